-- The 20 products with the highest revenue, with how they convert and how they are rated.
SELECT product_id, name, department, units_sold, revenue_usd, views, view_to_purchase,
       average_rating, review_count, stock_status
FROM curated.product_performance
ORDER BY revenue_usd DESC, product_id
LIMIT 20
