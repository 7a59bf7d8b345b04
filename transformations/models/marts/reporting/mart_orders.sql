{{ config(materialized='view') }}

with

orders as (

    select * from {{ ref('fact_orders') }}

),

contacts as (

    select * from {{ ref('dim_contacts') }}

),

final as (

    -- the star joined once for the dashboard's order-based tabs; KPIs over it come from var `kpis`
    select
        orders.order_id,
        orders.order_date_utc as order_date,
        cast({{ dbt.date_trunc('month', 'orders.order_date_utc') }} as date) as order_month,
        orders.ordered_at_utc,

        orders.contact_id,
        contacts.country,
        orders.customer_order_number,
        case
            when orders.customer_order_number = 1 then 'new'
            when orders.customer_order_number > 1 then 'repeat'
            else 'guest'
        end as customer_type,

        -- revenue is net of refunds (a refund counts on its order's date); order counts are unchanged
        orders.net_amount_reporting as revenue,
        orders.amount_reporting as gross_revenue,
        orders.refund_amount_reporting as refunded_revenue,
        orders.has_refund,
        orders.reporting_currency,
        orders.amount,
        orders.refund_amount,
        orders.net_amount,
        orders.currency,
        orders.items,
        orders.payment_method,

        orders.attributed_channel as channel,
        orders.attributed_campaign_id as campaign_id,
        orders.attributed_campaign_name as campaign_name,
        orders.utm_source,
        orders.attributed_source,
        orders.attributed_medium,
        orders.attribution_method

    from orders

    left join contacts
        on orders.contact_id = contacts.contact_id

)

select * from final
