"""Clickstream sessionisation and windowed traffic written for Polars: a peer lakejob is
measured against (issue 8).

The same work as sessionisation_duckdb.py and lakejob's clickstream_events, sessions and
traffic_windows jobs. Writes each result as Parquet and prints counts the tests compare with
lakejob's own.

Usage: sessionisation_polars.py LAKE OUT [THREADS]
"""

import json
import os
import sys

if len(sys.argv) > 3:
    os.environ["POLARS_MAX_THREADS"] = sys.argv[3]

import polars as pl  # noqa: E402  (the thread count is read when Polars is imported)

lake, out = sys.argv[1], sys.argv[2]
c = pl.col
columns = ["event_id", "user_id", "anonymous_id", "event_type", "product_id", "page_url",
           "referrer", "device", "event_time"]
raw = pl.scan_ndjson(
    f"{lake}/raw/clickstream/*/*.jsonl*",
    schema={name: pl.String for name in columns},
    include_file_paths="_source_file",
    ignore_errors=True,
)
event_types = ["page_view", "product_view", "add_to_cart", "remove_from_cart", "checkout_start",
               "purchase"]
typed = raw.with_columns(
    et=c("event_type").str.strip_chars().str.to_lowercase(),
    t=c("event_time").str.strip_chars()
    .str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", strict=False, time_unit="us")
    .dt.replace_time_zone("UTC"),
)
reason = (
    pl.when(~c("event_id").fill_null("").str.contains(r"^E[0-9]{11}$")).then(pl.lit("event_id"))
    .when(~c("et").is_in(event_types).fill_null(False)).then(pl.lit("event_type"))
    .when(c("t").is_null()).then(pl.lit("event_time"))
    .when(c("user_id").is_null() & c("anonymous_id").is_null())
    .then(pl.lit("visitor: neither user_id nor anonymous_id"))
    .otherwise(pl.lit(None, dtype=pl.String))
)
typed = typed.with_columns(reason=reason).collect()
typed.filter(c("reason").is_not_null()).drop("et", "t").write_parquet(
    f"{out}/quarantine_clickstream.parquet"
)

events = (
    typed.lazy()
    .filter(c("reason").is_null())
    .sort("t")
    .unique("event_id", keep="first")
    .select(
        "event_id",
        pl.coalesce("user_id", "anonymous_id").alias("visitor_id"),
        "user_id",
        "anonymous_id",
        c("et").alias("event_type"),
        "product_id",
        "page_url",
        "referrer",
        c("device").str.to_lowercase().alias("device"),
        c("t").alias("event_time"),
        c("t").dt.date().alias("event_date"),
    )
    .collect()
)
events.write_parquet(f"{out}/clickstream_events", partition_by=["event_date"])

sessions = (
    events.lazy()
    .sort("visitor_id", "event_time", "event_id")
    .with_columns(
        starts=(
            c("event_time").diff().over("visitor_id").is_null()
            | (c("event_time").diff().over("visitor_id") > pl.duration(minutes=30))
        ).cast(pl.Int64)
    )
    .with_columns(n=c("starts").cum_sum().over("visitor_id"))
    .group_by("visitor_id", "n")
    .agg(
        session_start=c("event_time").min(),
        session_end=c("event_time").max(),
        events=pl.len(),
        product_views=(c("event_type") == "product_view").sum(),
        converted=(c("event_type") == "purchase").any(),
    )
    .with_columns(
        session_id=c("visitor_id") + "@"
        + c("session_start").dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"),
        duration_s=(c("session_end") - c("session_start")).dt.total_microseconds() / 1e6,
        session_date=c("session_start").dt.date(),
    )
    .drop("n")
    .collect()
)
sessions.write_parquet(f"{out}/sessions.parquet")

windows = []
for size, every in [("1 hour", "1h"), ("5 minutes", "5m")]:
    traffic = events.group_by(window_start=c("event_time").dt.truncate(every)).agg(
        events=pl.len(), unique_visitors=c("visitor_id").n_unique()
    )
    started = sessions.group_by(window_start=c("session_start").dt.truncate(every)).agg(
        sessions=pl.len(), converted_sessions=c("converted").sum()
    )
    windows.append(
        traffic.join(started, on="window_start", how="left")
        .with_columns(
            window_size=pl.lit(size),
            sessions=c("sessions").fill_null(0),
            converted_sessions=c("converted_sessions").fill_null(0),
        )
        .with_columns(
            conversion_rate=pl.when(c("sessions") == 0).then(0.0)
            .otherwise(c("converted_sessions") / c("sessions"))
        )
    )
traffic_windows = pl.concat(windows, how="diagonal_relaxed")
traffic_windows.write_parquet(f"{out}/traffic_windows.parquet")

rejected = typed.filter(c("reason").is_not_null()).height
print(json.dumps({
    "rows_in": typed.height,
    "rows_rejected": rejected,
    "events": events.height,
    "sessions": sessions.height,
    "converted_sessions": int(sessions["converted"].sum()),
    "windows": traffic_windows.height,
    "window_sessions": int(traffic_windows["sessions"].sum()),
}))
