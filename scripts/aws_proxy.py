"""A small HTTP proxy in front of moto for the tests.

It forwards every request to moto and
- answers the calls terraform's aws provider makes that moto lacks: Step Functions'
  ValidateStateMachineDefinition and ListStateMachineVersions, Athena's DeleteNamedQuery (moto
  drops named queries with their workgroup);
- appends Step Functions task callbacks (target and JSON body) to a log file when one is given,
  because moto accepts them without keeping them.

Usage: aws_proxy.py UPSTREAM [LOG]; prints the port it listens on, then serves until killed.
"""

import http.server
import json
import sys
import urllib.error
import urllib.request

UPSTREAM = sys.argv[1]
LOG = sys.argv[2] if len(sys.argv) > 2 else None
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
        target = self.headers.get("X-Amz-Target", "")
        if target in STUBS:
            return self.reply(200, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(STUBS[target]).encode())
        if LOG and target.startswith("AWSStepFunctions.SendTask"):
            with open(LOG, "a") as log:
                log.write(json.dumps({"target": target, "body": json.loads(body)}) + "\n")
        request = urllib.request.Request(
            UPSTREAM + self.path,
            data=body if self.command in ("POST", "PUT", "PATCH") or body else None,
            method=self.command,
            headers={k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")},
        )
        try:
            with urllib.request.urlopen(request) as response:
                status, headers, payload = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            status, headers, payload = error.code, error.headers, error.read()
        self.reply(status, headers, payload)

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
