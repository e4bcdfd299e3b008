-- Do better-rated products sell more? Products grouped by their rounded average rating.
SELECT CAST(round(average_rating) AS INTEGER) AS rating,
       count(*) AS products,
       sum(units_sold) AS units_sold,
       sum(revenue_usd) AS revenue_usd,
       avg(view_to_purchase) AS average_view_to_purchase
FROM curated.product_performance
WHERE average_rating IS NOT NULL
GROUP BY CAST(round(average_rating) AS INTEGER)
ORDER BY rating
