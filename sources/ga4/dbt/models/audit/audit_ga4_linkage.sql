{{ config(materialized='view') }}

-- share of CRM orders whose transaction id GA4 reports as a purchase, over the days GA4 has purchases for,
-- and GA4 purchases that no CRM order explains
with

orders as (

    select * from {{ ref('fact_orders') }}

),

purchases as (

    select * from {{ ref('stg_ga4__purchases') }}

),

ga4_window as (

    select
        min(date_day) as first_day,
        max(date_day) as last_day

    from purchases

),

ga4_transactions as (

    select distinct transaction_id

    from purchases

    where transaction_id is not null

),

orders_in_window as (

    select
        orders.order_id,
        orders.transaction_id,
        case when ga4_transactions.transaction_id is not null then 1 else 0 end as is_linked

    from orders

    cross join ga4_window

    left join ga4_transactions
        on orders.transaction_id = ga4_transactions.transaction_id

    where orders.order_date_local between ga4_window.first_day and ga4_window.last_day

),

unexplained_purchases as (

    select count(*) as ga4_purchases_without_order

    from ga4_transactions

    left join orders
        on ga4_transactions.transaction_id = orders.transaction_id

    where orders.order_id is null

),

final as (

    select
        ga4_window.first_day,
        ga4_window.last_day,
        count(orders_in_window.order_id) as crm_orders,
        coalesce(sum(orders_in_window.is_linked), 0) as linked_orders,
        cast(
            round(sum(orders_in_window.is_linked) / nullif(count(orders_in_window.order_id), 0), 4)
            as decimal(18, 4)
        ) as linkage_rate,
        max(unexplained_purchases.ga4_purchases_without_order) as ga4_purchases_without_order,
        {{ var('ga4_min_linkage_rate', 0.8) }} as min_linkage_rate

    from ga4_window

    cross join unexplained_purchases

    left join orders_in_window
        on true

    group by ga4_window.first_day, ga4_window.last_day

)

select * from final
