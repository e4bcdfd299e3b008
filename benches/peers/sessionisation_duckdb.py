"""Clickstream sessionisation and windowed traffic written for DuckDB: a peer lakejob is
measured against (issue 8).

The same work as lakejob's clickstream_events, sessions and traffic_windows jobs, by docs/data.md's
rules: read the raw JSON Lines, type them, quarantine events with no visitor, keep the first
copy of each event_id, cut each visitor's events into sessions at gaps over 30 minutes, and
count events, unique visitors, sessions and conversions per 1-hour and 5-minute window. Writes
each result as Parquet and prints counts the tests compare with lakejob's own.

Usage: sessionisation_duckdb.py LAKE OUT [THREADS]
"""

import json
import sys

import duckdb

lake, out = sys.argv[1], sys.argv[2]
threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
db = duckdb.connect(config={"threads": threads})
columns = ["event_id", "user_id", "anonymous_id", "event_type", "product_id", "page_url",
           "referrer", "device", "event_time"]
declared = ", ".join(f"'{c}': 'VARCHAR'" for c in columns)
db.execute(f"""
CREATE TEMP TABLE typed AS
SELECT *,
  CASE
    WHEN NOT regexp_full_match(coalesce(event_id, ''), 'E[0-9]{{11}}') THEN 'event_id'
    WHEN et NOT IN ('page_view', 'product_view', 'add_to_cart', 'remove_from_cart',
                    'checkout_start', 'purchase') OR et IS NULL THEN 'event_type'
    WHEN t IS NULL THEN 'event_time'
    WHEN user_id IS NULL AND anonymous_id IS NULL THEN 'visitor: neither user_id nor anonymous_id'
  END AS reason
FROM (
  SELECT *, lower(trim(event_type)) AS et, TRY_CAST(trim(event_time) AS TIMESTAMPTZ) AS t
  FROM read_json('{lake}/raw/clickstream/*/*.jsonl*', format = 'newline_delimited',
                 columns = {{{declared}}}, filename = true, ignore_errors = true)
)
""")
db.execute(f"""
COPY (SELECT * EXCLUDE (et, t) FROM typed WHERE reason IS NOT NULL)
TO '{out}/quarantine_clickstream.parquet' (FORMAT parquet)
""")
db.execute("""
CREATE TEMP TABLE events AS
SELECT event_id, coalesce(user_id, anonymous_id) AS visitor_id, user_id, anonymous_id,
       et AS event_type, product_id, page_url, referrer, lower(device) AS device,
       t AS event_time, CAST(timezone('UTC', t) AS DATE) AS event_date
FROM typed WHERE reason IS NULL
QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY t) = 1
""")
db.execute(f"""
COPY events TO '{out}/clickstream_events' (FORMAT parquet, PARTITION_BY (event_date),
                                           OVERWRITE_OR_IGNORE)
""")
db.execute("""
CREATE TEMP TABLE sessions AS
WITH gaps AS (
  SELECT visitor_id, event_id, event_time, event_type,
         CASE WHEN lag(event_time) OVER visits IS NULL
                OR event_time - lag(event_time) OVER visits > INTERVAL '30 minutes'
              THEN 1 ELSE 0 END AS starts_session
  FROM events
  WINDOW visits AS (PARTITION BY visitor_id ORDER BY event_time, event_id)
),
numbered AS (
  SELECT *, sum(starts_session) OVER (PARTITION BY visitor_id ORDER BY event_time, event_id
                                      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS n
  FROM gaps
)
SELECT visitor_id || '@' || strftime(timezone('UTC', min(event_time)), '%Y-%m-%dT%H:%M:%S.%gZ')
         AS session_id,
       visitor_id, min(event_time) AS session_start, max(event_time) AS session_end,
       epoch(max(event_time)) - epoch(min(event_time)) AS duration_s,
       count(*) AS events,
       sum(CASE WHEN event_type = 'product_view' THEN 1 ELSE 0 END) AS product_views,
       bool_or(event_type = 'purchase') AS converted,
       CAST(timezone('UTC', min(event_time)) AS DATE) AS session_date
FROM numbered GROUP BY visitor_id, n
""")
db.execute(f"COPY sessions TO '{out}/sessions.parquet' (FORMAT parquet)")
db.execute(f"""
COPY (
  WITH sizes AS (SELECT * FROM (VALUES ('1 hour', INTERVAL '1 hour'),
                                       ('5 minutes', INTERVAL '5 minutes')) AS s(window_size, width)),
  traffic AS (
    SELECT window_size, time_bucket(width, event_time, TIMESTAMPTZ '1970-01-01 00:00:00+00')
             AS window_start,
           count(*) AS events, count(DISTINCT visitor_id) AS unique_visitors
    FROM events CROSS JOIN sizes GROUP BY ALL
  ),
  conversions AS (
    SELECT window_size, time_bucket(width, session_start, TIMESTAMPTZ '1970-01-01 00:00:00+00')
             AS window_start,
           count(*) AS sessions, sum(CASE WHEN converted THEN 1 ELSE 0 END) AS converted_sessions
    FROM sessions CROSS JOIN sizes GROUP BY ALL
  )
  SELECT t.window_size, t.window_start, t.events, t.unique_visitors,
         coalesce(c.sessions, 0) AS sessions,
         coalesce(c.converted_sessions, 0) AS converted_sessions,
         CASE WHEN coalesce(c.sessions, 0) = 0 THEN 0.0
              ELSE c.converted_sessions / c.sessions END AS conversion_rate
  FROM traffic t LEFT JOIN conversions c USING (window_size, window_start)
) TO '{out}/traffic_windows.parquet' (FORMAT parquet)
""")
rows_in, rejected = db.execute("SELECT count(*), count(reason) FROM typed").fetchone()
events = db.execute("SELECT count(*) FROM events").fetchone()[0]
sessions, converted = db.execute(
    "SELECT count(*), count(*) FILTER (converted) FROM sessions"
).fetchone()
windows, window_sessions = db.execute(
    f"SELECT count(*), sum(sessions) FROM read_parquet('{out}/traffic_windows.parquet')"
).fetchone()
print(json.dumps({
    "rows_in": rows_in,
    "rows_rejected": rejected,
    "events": events,
    "sessions": sessions,
    "converted_sessions": converted,
    "windows": windows,
    "window_sessions": int(window_sessions),
}))
