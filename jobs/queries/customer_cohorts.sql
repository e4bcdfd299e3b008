-- Customers by the month of their first order: how many, their orders and their value.
SELECT date_trunc('month', first_order_at) AS cohort_month,
       count(*) AS customers,
       sum(orders) AS orders,
       sum(lifetime_value_usd) AS lifetime_value_usd,
       avg(lifetime_value_usd) AS average_lifetime_value_usd
FROM curated.customer_summary
GROUP BY date_trunc('month', first_order_at)
ORDER BY cohort_month
