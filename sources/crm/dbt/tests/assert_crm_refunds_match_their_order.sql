{{ config(severity='warn') }}

-- a refund larger than its order, or in another currency than its order, points to a refund booked on the wrong
-- order_id or an export error; fact_orders still nets it (a negative net amount, or a refund converted into the
-- order's currency through the reporting currency)
with

order_lines as (

    select * from {{ ref('stg_crm__orders') }}

),

orders as (

    select * from order_lines
    where line_kind = 'order'

),

refunds as (

    select * from order_lines
    where line_kind = 'refund'

)

select
    refunds.order_id,
    orders.amount as order_amount,
    orders.currency as order_currency,
    -refunds.amount as refund_amount,
    refunds.currency as refund_currency

from refunds

inner join orders
    on refunds.order_id = orders.order_id

where
    refunds.currency <> orders.currency
    or -refunds.amount > orders.amount
