-- The funnel over the whole period: visitors at each step and the step-to-step rates.
SELECT sum(page_view) AS page_view,
       sum(product_view) AS product_view,
       sum(add_to_cart) AS add_to_cart,
       sum(checkout_start) AS checkout_start,
       sum(purchase) AS purchase,
       CAST(sum(add_to_cart) AS DOUBLE) / NULLIF(sum(product_view), 0) AS view_to_cart,
       CAST(sum(purchase) AS DOUBLE) / NULLIF(sum(add_to_cart), 0) AS cart_to_purchase
FROM curated.funnel_daily
