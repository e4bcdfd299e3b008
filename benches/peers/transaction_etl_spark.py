"""transaction_etl written for Spark (PySpark, local[THREADS]): AWS Glue's engine, the peer
lakejob replaces (issue 8).

The same work as transaction_etl_duckdb.py, by docs/data.md's rules: read the raw CSV files, type and
normalise them, send every invalid row to a quarantine Parquet folder with its reason, drop
repeated transaction_ids, convert to USD with fx_rates, and write Parquet partitioned by
year/month/day. Prints the row accounting and sum(amount_usd) as JSON, which the tests compare
with lakejob's own, so the peer stays honest.

Usage: transaction_etl_spark.py LAKE OUT [THREADS]
"""

import glob
import json
import os
import sys

from pyspark.sql import SparkSession
from pyspark.sql.types import StringType, StructField, StructType

lake, out = sys.argv[1], sys.argv[2]
threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
spark = (
    SparkSession.builder.master(f"local[{threads}]")
    .appName("transaction_etl")
    .config("spark.sql.session.timeZone", "UTC")
    .config("spark.sql.shuffle.partitions", str(threads))
    .config("spark.ui.enabled", "false")
    .config("spark.driver.memory", os.environ.get("SPARK_DRIVER_MEMORY", "4g"))
    .getOrCreate()
)
spark.sparkContext.setLogLevel("ERROR")

COLUMNS = [
    "transaction_id", "order_id", "customer_id", "product_id", "quantity", "unit_price",
    "discount", "currency", "payment_method", "status", "country", "event_time",
]
schema = StructType([StructField(c, StringType()) for c in COLUMNS] + [StructField("_corrupt", StringType())])
files = sorted(glob.glob(f"{lake}/raw/transactions/*/*.csv*"))
(
    spark.read.schema(schema)
    .option("header", "true")
    .option("mode", "PERMISSIVE")
    .option("columnNameOfCorruptRecord", "_corrupt")
    .option("ignoreLeadingWhiteSpace", "false")
    .option("ignoreTrailingWhiteSpace", "false")
    .csv(files)
    .selectExpr("*", "input_file_name() AS filename")
    .createOrReplaceTempView("raw")
)
spark.sql("""
SELECT *,
  CASE
    WHEN _corrupt IS NOT NULL THEN 'fields: the row does not have the header''s fields'
    WHEN NOT coalesce(transaction_id, '') RLIKE '^T[0-9]{12}$' THEN 'transaction_id'
    WHEN NOT coalesce(order_id, '') RLIKE '^O[0-9]{10}$' THEN 'order_id'
    WHEN nullif(trim(product_id), '') IS NULL THEN 'product_id'
    WHEN q IS NULL THEN 'quantity'
    WHEN p IS NULL THEN 'unit_price'
    WHEN d IS NULL THEN 'discount'
    WHEN cur IS NULL OR cur NOT IN ('USD', 'EUR', 'GBP', 'INR') THEN 'currency'
    WHEN pm IS NULL OR pm NOT IN ('card', 'paypal', 'upi', 'cod', 'gift_card') THEN 'payment_method'
    WHEN st IS NULL OR st NOT IN ('completed', 'pending', 'cancelled', 'refunded') THEN 'status'
    WHEN NOT coalesce(ctry, '') RLIKE '^[A-Z]{2}$' THEN 'country'
    WHEN t IS NULL THEN 'event_time'
    WHEN q = 0 THEN 'quantity: 0 is not a valid quantity'
    WHEN p < 0 THEN 'unit_price: negative price'
    WHEN d < 0 OR (q > 0 AND d > q * p) THEN 'discount: outside 0 to quantity * unit_price'
  END AS reason
FROM (
  SELECT *, try_cast(trim(quantity) AS BIGINT) AS q,
         try_cast(trim(unit_price) AS DECIMAL(12, 2)) AS p,
         try_cast(trim(discount) AS DECIMAL(12, 2)) AS d,
         upper(trim(currency)) AS cur, lower(trim(payment_method)) AS pm,
         lower(trim(status)) AS st, upper(trim(country)) AS ctry,
         CASE WHEN trim(event_time) RLIKE '^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}'
              THEN try_cast(trim(event_time) AS TIMESTAMP) END AS t
  FROM raw
)
""").cache().createOrReplaceTempView("typed")
spark.sql("""
SELECT transaction_id, order_id, customer_id, product_id, quantity, unit_price, discount,
       currency, payment_method, status, country, event_time, filename AS _source_file,
       reason AS _reject_reason
FROM typed WHERE reason IS NOT NULL
""").write.mode("overwrite").parquet(f"{out}/quarantine_transactions")
(
    spark.read.option("header", "true")
    .schema("currency STRING, rate_to_usd DECIMAL(18, 6)")
    .csv(f"{lake}/reference/fx_rates.csv")
    .createOrReplaceTempView("fx")
)
spark.sql("""
WITH kept AS (
  SELECT * FROM (
    SELECT *, row_number() OVER (PARTITION BY transaction_id ORDER BY transaction_id) AS copy
    FROM typed WHERE reason IS NULL
  ) WHERE copy = 1
)
SELECT transaction_id, order_id, nullif(trim(customer_id), '') AS customer_id,
       trim(product_id) AS product_id, q AS quantity, p AS unit_price, d AS discount,
       cur AS currency, pm AS payment_method, st AS status, ctry AS country, t AS event_time,
       CAST(q * p AS DECIMAL(14, 2)) AS gross_amount,
       CAST(q * p - d AS DECIMAL(14, 2)) AS net_amount,
       CAST(CAST(q * p - d AS DECIMAL(14, 2)) * fx.rate_to_usd AS DECIMAL(16, 2)) AS amount_usd,
       q < 0 AS is_return, CAST(t AS DATE) AS event_date,
       year(t) AS year, month(t) AS month, day(t) AS day
FROM kept JOIN fx ON fx.currency = kept.cur
""").write.mode("overwrite").partitionBy("year", "month", "day").parquet(f"{out}/transactions")
rows_in, rejected = spark.sql("SELECT count(*), count(reason) FROM typed").first()
written = spark.read.parquet(f"{out}/transactions")
rows_out, amount = written.selectExpr("count(*)", "CAST(sum(amount_usd) AS STRING)").first()
# The JVM is not this process's child that anyone waits for: report its CPU time and peak
# RSS from /proc, as lakebench measures every other process.
jvm = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
with open(f"/proc/{jvm}/stat") as stat:
    fields = stat.read().rsplit(")", 1)[1].split()
    engine_cpu_s = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
with open(f"/proc/{jvm}/status") as status:
    engine_peak_rss_mb = next(int(l.split()[1]) for l in status if l.startswith("VmHWM:")) / 1024
print(json.dumps({
    "rows_in": rows_in,
    "rows_out": rows_out,
    "rows_rejected": rejected,
    "rows_duplicate": rows_in - rejected - rows_out,
    "amount_usd": amount,
    "engine_cpu_s": engine_cpu_s,
    "engine_peak_rss_mb": engine_peak_rss_mb,
}))
spark.stop()
