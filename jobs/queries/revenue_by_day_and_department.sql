-- Revenue, units and returns per day and department.
SELECT date, department, sum(orders) AS orders, sum(units) AS units,
       sum(revenue_usd) AS revenue_usd, sum(returns) AS returns
FROM curated.sales_daily
GROUP BY date, department
ORDER BY date, revenue_usd DESC
