"""The shop example: orders → daily order summary → predicted orders.

``ingest`` stands in for the point-of-sale and CRM exports that land raw CSV files and announce
``shop.orders`` (one partition per day) and ``shop.customers``. ``summary`` (service
``shop-summary``) builds ``shop.daily_order_summary`` per day from both, and ``forecast``
(service ``shop-forecast``) builds ``shop.predicted_orders`` from every day's summary. No module
imports another: each one deploys on its own, and the CSV layout under the data directory is the
only contract between them::

    <data>/raw/customers.csv
    <data>/raw/orders/<day>.csv
    <data>/warehouse/daily_order_summary/<day>.csv
    <data>/warehouse/predicted_orders.csv
"""
