"""A small HTTP proxy in front of moto for the tests.

It forwards every request to moto and
- answers the calls terraform's aws provider makes that moto lacks: Step Functions'
  ValidateStateMachineDefinition and ListStateMachineVersions, Athena's DeleteNamedQuery (moto
  drops named queries with their workgroup);
- appends Step Functions task callbacks (target and JSON body) to a log file when one is given,
  because moto accepts them without keeping them;
- injects storage faults when asked: a 503 SlowDown instead of every N-th response, a delay
  before every response, or the whole server gone (the process exits, so connections are
  refused) once it has forwarded a request matching a pattern; and can list every request it
  forwarded.

Usage: aws_proxy.py UPSTREAM [LOG] [--fail-every N] [--delay SECONDS]
[--stop-after-matching REGEX] [--requests FILE]; prints the port it listens on, then serves until
killed.
"""

import argparse
import http.client
import http.server
import json
import os
import re
import threading
import time
import urllib.parse

parser = argparse.ArgumentParser()
parser.add_argument("upstream")
parser.add_argument("log", nargs="?")
parser.add_argument("--fail-every", type=int, default=0, help="answer 503 SlowDown to every N-th request")
parser.add_argument("--delay", type=float, default=0.0, help="seconds to wait before each response")
parser.add_argument("--stop-after-matching", help="exit once a forwarded request's 'METHOD path' matches this regular expression")
parser.add_argument("--requests", help="append 'METHOD path' of every forwarded request to this file")
ARGS = parser.parse_args()
UPSTREAM, LOG = ARGS.upstream, ARGS.log
UPSTREAM_HOST = urllib.parse.urlsplit(UPSTREAM)
SEEN = {"requests": 0}
COUNTING = threading.Lock()
SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)
STUBS = {
    "AWSStepFunctions.ValidateStateMachineDefinition": {"result": "OK", "diagnostics": [], "truncated": False},
    "AWSStepFunctions.ListStateMachineVersions": {"stateMachineVersions": []},
    "AmazonAthena.DeleteNamedQuery": {},
}
HOP_BY_HOP = {"content-length", "connection", "transfer-encoding", "server", "date"}


class Proxy(http.server.BaseHTTPRequestHandler):
    # One request per connection: no keep-alive state to get out of step with clients.
    protocol_version = "HTTP/1.0"

    def forward(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
        with COUNTING:
            SEEN["requests"] += 1
            failing = ARGS.fail_every and SEEN["requests"] % ARGS.fail_every == 0
        time.sleep(ARGS.delay)
        if failing:
            return self.reply(503, {"Content-Type": "application/xml"}, SLOW_DOWN)
        target = self.headers.get("X-Amz-Target", "")
        if target in STUBS:
            return self.reply(200, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(STUBS[target]).encode())
        if LOG and target.startswith("AWSStepFunctions.SendTask"):
            with open(LOG, "a") as log:
                log.write(json.dumps({"target": target, "body": json.loads(body)}) + "\n")
        # http.client sends the request as it came (urllib would add a form Content-Type to a
        # PUT without one, and moto would then read the body as a form).
        upstream = http.client.HTTPConnection(UPSTREAM_HOST.hostname, UPSTREAM_HOST.port, timeout=120)
        try:
            upstream.request(
                self.command,
                self.path,
                body=body if self.command in ("POST", "PUT", "PATCH") or body else None,
                headers={k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "connection")},
            )
            response = upstream.getresponse()
            status, headers, payload = response.status, response.headers, response.read()
        finally:
            upstream.close()
        with COUNTING:
            if ARGS.requests:
                with open(ARGS.requests, "a") as requests:
                    requests.write(f"{self.command} {self.path}\n")
            stopping = ARGS.stop_after_matching and re.search(
                ARGS.stop_after_matching, f"{self.command} {self.path}"
            )
        self.reply(status, headers, payload)
        if stopping:
            self.wfile.flush()
            os._exit(0)

    def reply(self, status, headers, payload):
        self.send_response(status)
        for key, value in headers.items():
            if key.lower() not in HOP_BY_HOP:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = forward

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
print(server.server_address[1], flush=True)
server.serve_forever()
