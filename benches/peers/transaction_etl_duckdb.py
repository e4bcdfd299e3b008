"""transaction_etl written for DuckDB: the peer lakejob is measured against (issue 8).

The same work as jobs/definitions/transaction_etl.yaml, by docs/data.md's rules: read the raw CSV
files, type and normalise them, send every invalid row to a quarantine Parquet file with its
reason, drop repeated transaction_ids, convert to USD with fx_rates, and write Parquet
partitioned by year/month/day. Prints the row accounting and sum(amount_usd) as JSON, which the
tests compare with lakejob's own, so the peer stays honest.

Usage: transaction_etl_duckdb.py LAKE OUT [THREADS]
"""

import json
import sys

import duckdb

lake, out = sys.argv[1], sys.argv[2]
threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
db = duckdb.connect(config={"threads": threads})
db.execute(f"""
CREATE TEMP TABLE raw AS
SELECT * FROM read_csv('{lake}/raw/transactions/*/*.csv*', all_varchar = true, header = true,
                       filename = true, strict_mode = false, null_padding = true)
""")
db.execute("""
CREATE TEMP TABLE typed AS
SELECT *,
  CASE
    WHEN NOT regexp_full_match(coalesce(transaction_id, ''), 'T[0-9]{12}') THEN 'transaction_id'
    WHEN NOT regexp_full_match(coalesce(order_id, ''), 'O[0-9]{10}') THEN 'order_id'
    WHEN nullif(trim(product_id), '') IS NULL THEN 'product_id'
    WHEN q IS NULL THEN 'quantity'
    WHEN p IS NULL THEN 'unit_price'
    WHEN d IS NULL THEN 'discount'
    WHEN cur NOT IN ('USD', 'EUR', 'GBP', 'INR') OR cur IS NULL THEN 'currency'
    WHEN pm NOT IN ('card', 'paypal', 'upi', 'cod', 'gift_card') OR pm IS NULL THEN 'payment_method'
    WHEN st NOT IN ('completed', 'pending', 'cancelled', 'refunded') OR st IS NULL THEN 'status'
    WHEN NOT regexp_full_match(coalesce(ctry, ''), '[A-Z]{2}') THEN 'country'
    WHEN t IS NULL THEN 'event_time'
    WHEN q = 0 THEN 'quantity: 0 is not a valid quantity'
    WHEN p < 0 THEN 'unit_price: negative price'
    WHEN d < 0 OR (q > 0 AND d > q * p) THEN 'discount: outside 0 to quantity * unit_price'
  END AS reason
FROM (
  SELECT *, TRY_CAST(trim(quantity) AS BIGINT) AS q,
         TRY_CAST(trim(unit_price) AS DECIMAL(12, 2)) AS p,
         TRY_CAST(trim(discount) AS DECIMAL(12, 2)) AS d,
         upper(trim(currency)) AS cur, lower(trim(payment_method)) AS pm,
         lower(trim(status)) AS st, upper(trim(country)) AS ctry,
         TRY_CAST(trim(event_time) AS TIMESTAMPTZ) AS t
  FROM raw
)
""")
db.execute(f"""
COPY (SELECT transaction_id, order_id, customer_id, product_id, quantity, unit_price, discount,
             currency, payment_method, status, country, event_time, filename AS _source_file,
             reason AS _reject_reason
      FROM typed WHERE reason IS NOT NULL)
TO '{out}/quarantine_transactions.parquet' (FORMAT parquet)
""")
db.execute(f"""
COPY (
  WITH valid AS (SELECT * FROM typed WHERE reason IS NULL),
  kept AS (SELECT * FROM valid QUALIFY row_number() OVER (PARTITION BY transaction_id) = 1),
  fx AS (SELECT * FROM read_csv('{lake}/reference/fx_rates.csv', header = true,
                                columns = {{'currency': 'VARCHAR', 'rate_to_usd': 'DECIMAL(18, 6)'}}))
  SELECT transaction_id, order_id, nullif(trim(customer_id), '') AS customer_id,
         trim(product_id) AS product_id, q AS quantity, p AS unit_price, d AS discount,
         cur AS currency, pm AS payment_method, st AS status, ctry AS country, t AS event_time,
         CAST(q * p AS DECIMAL(14, 2)) AS gross_amount,
         CAST(q * p - d AS DECIMAL(14, 2)) AS net_amount,
         CAST(CAST(q * p - d AS DECIMAL(14, 2)) * fx.rate_to_usd AS DECIMAL(16, 2)) AS amount_usd,
         q < 0 AS is_return, CAST(timezone('UTC', t) AS DATE) AS event_date,
         year(timezone('UTC', t)) AS year, month(timezone('UTC', t)) AS month,
         day(timezone('UTC', t)) AS day
  FROM kept JOIN fx ON fx.currency = kept.cur
) TO '{out}/transactions' (FORMAT parquet, PARTITION_BY (year, month, day), OVERWRITE_OR_IGNORE)
""")
rows_in, rejected = db.execute("SELECT count(*), count(reason) FROM typed").fetchone()
rows_out, amount = db.execute(
    f"SELECT count(*), CAST(sum(amount_usd) AS VARCHAR) FROM read_parquet('{out}/transactions/**/*.parquet')"
).fetchone()
print(json.dumps({
    "rows_in": rows_in,
    "rows_out": rows_out,
    "rows_rejected": rejected,
    "rows_duplicate": rows_in - rejected - rows_out,
    "amount_usd": amount,
}))
