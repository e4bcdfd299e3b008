"""transaction_etl written for Polars: a peer lakejob is measured against (issue 8).

The same work as jobs/definitions/transaction_etl.yaml and transaction_etl_duckdb.py, by
docs/data.md's rules: read the raw CSV files as text, type and normalise them, send every invalid row
to a quarantine Parquet file with its reason, keep the latest row of each transaction_id,
convert to USD with fx_rates, and write Parquet partitioned by year/month/day. Prints the row
accounting and sum(amount_usd) as JSON, which the tests compare with lakejob's own.

Usage: transaction_etl_polars.py LAKE OUT [THREADS]
"""

import json
import os
import sys

if len(sys.argv) > 3:
    os.environ["POLARS_MAX_THREADS"] = sys.argv[3]

import polars as pl  # noqa: E402  (the thread count is read when Polars is imported)

lake, out = sys.argv[1], sys.argv[2]
text = pl.col
raw = pl.scan_csv(
    f"{lake}/raw/transactions/*/*.csv*",
    infer_schema=False,
    include_file_paths="_source_file",
    truncate_ragged_lines=True,
)


def trimmed(name):
    return text(name).str.strip_chars()


def decimal(name):
    return trimmed(name).cast(pl.Decimal(12, 2), strict=False)


typed = raw.with_columns(
    q=trimmed("quantity").cast(pl.Int64, strict=False),
    p=decimal("unit_price"),
    d=decimal("discount"),
    cur=trimmed("currency").str.to_uppercase(),
    pm=trimmed("payment_method").str.to_lowercase(),
    st=trimmed("status").str.to_lowercase(),
    ctry=trimmed("country").str.to_uppercase(),
    t=trimmed("event_time")
    .str.to_datetime("%Y-%m-%dT%H:%M:%SZ", strict=False, time_unit="us")
    .dt.replace_time_zone("UTC"),
)


def full_match(name, pattern):
    return text(name).fill_null("").str.contains(f"^{pattern}$")


checks = [
    (~full_match("transaction_id", "T[0-9]{12}"), "transaction_id"),
    (~full_match("order_id", "O[0-9]{10}"), "order_id"),
    (trimmed("product_id").fill_null("") == "", "product_id"),
    (text("q").is_null(), "quantity"),
    (text("p").is_null(), "unit_price"),
    (text("d").is_null(), "discount"),
    (~text("cur").is_in(["USD", "EUR", "GBP", "INR"]).fill_null(False), "currency"),
    (
        ~text("pm").is_in(["card", "paypal", "upi", "cod", "gift_card"]).fill_null(False),
        "payment_method",
    ),
    (
        ~text("st").is_in(["completed", "pending", "cancelled", "refunded"]).fill_null(False),
        "status",
    ),
    (~full_match("ctry", "[A-Z]{2}"), "country"),
    (text("t").is_null(), "event_time"),
    (text("q") == 0, "quantity: 0 is not a valid quantity"),
    (text("p") < 0, "unit_price: negative price"),
    (
        (text("d") < 0) | ((text("q") > 0) & (text("d") > text("q") * text("p"))),
        "discount: outside 0 to quantity * unit_price",
    ),
]
reason = pl.when(checks[0][0]).then(pl.lit(checks[0][1]))
for condition, why in checks[1:]:
    reason = reason.when(condition).then(pl.lit(why))
typed = typed.with_columns(reason=reason.otherwise(pl.lit(None, dtype=pl.String))).collect()

raw_columns = [
    "transaction_id", "order_id", "customer_id", "product_id", "quantity", "unit_price",
    "discount", "currency", "payment_method", "status", "country", "event_time",
]
typed.filter(text("reason").is_not_null()).select(
    *raw_columns, "_source_file", text("reason").alias("_reject_reason")
).write_parquet(f"{out}/quarantine_transactions.parquet")

fx = pl.read_csv(
    f"{lake}/reference/fx_rates.csv",
    schema={"currency": pl.String, "rate_to_usd": pl.String},
).with_columns(rate_to_usd=text("rate_to_usd").cast(pl.Decimal(18, 6)))
net = (text("q") * text("p") - text("d")).round(2, mode="half_away_from_zero").cast(pl.Decimal(14, 2))
utc = text("t")
output = (
    typed.lazy()
    .filter(text("reason").is_null())
    .sort("t", descending=True)
    .unique("transaction_id", keep="first")
    .join(fx.lazy(), left_on="cur", right_on="currency")
    .select(
        "transaction_id",
        "order_id",
        pl.when(trimmed("customer_id") == "").then(None).otherwise(trimmed("customer_id"))
        .alias("customer_id"),
        trimmed("product_id").alias("product_id"),
        text("q").alias("quantity"),
        text("p").alias("unit_price"),
        text("d").alias("discount"),
        text("cur").alias("currency"),
        text("pm").alias("payment_method"),
        text("st").alias("status"),
        text("ctry").alias("country"),
        text("t").alias("event_time"),
        (text("q") * text("p")).round(2, mode="half_away_from_zero").cast(pl.Decimal(14, 2)).alias("gross_amount"),
        net.alias("net_amount"),
        (net * text("rate_to_usd")).round(2, mode="half_away_from_zero").cast(pl.Decimal(16, 2)).alias("amount_usd"),
        (text("q") < 0).alias("is_return"),
        utc.dt.date().alias("event_date"),
        utc.dt.year().alias("year"),
        utc.dt.month().alias("month"),
        utc.dt.day().alias("day"),
    )
    .collect()
)
output.write_parquet(f"{out}/transactions", partition_by=["year", "month", "day"])

rows_in = typed.height
rejected = typed.filter(text("reason").is_not_null()).height
print(json.dumps({
    "rows_in": rows_in,
    "rows_out": output.height,
    "rows_rejected": rejected,
    "rows_duplicate": rows_in - rejected - output.height,
    "amount_usd": str(output["amount_usd"].sum()),
}))
