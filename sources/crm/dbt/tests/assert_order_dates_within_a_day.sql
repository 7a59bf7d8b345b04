{{ config(severity='warn') }}

-- the UTC date of an order is at most one day away from its local date; anything else points to a
-- wrong offset in `order_ts`, a wrong var `crm_default_timezone`, or an `order_date` that contradicts `order_ts`
select
    order_id,
    ordered_at_utc,
    order_date_utc,
    order_date_local

from {{ ref('stg_crm__orders') }}

where
    order_date_utc is not null
    and order_date_local is not null
    and abs({{ dbt.datediff('order_date_local', 'order_date_utc', 'day') }}) > 1
