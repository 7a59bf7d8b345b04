{{ config(materialized='view') }}

with

raw_orders as (

    select
        'raw' as layer,
        1 as layer_order,
        count(*) as orders,
        count(distinct order_id) as distinct_order_ids,
        sum(cast(amount as decimal(18, 2))) as amount,
        cast(null as decimal(18, 2)) as amount_reporting

    from {{ source('crm', 'orders') }}

),

staged_orders as (

    select
        'silver.stg_crm__orders' as layer,
        2 as layer_order,
        count(*) as orders,
        count(distinct order_id) as distinct_order_ids,
        sum(amount) as amount,
        sum(amount_reporting) as amount_reporting

    from {{ ref('stg_crm__orders') }}

),

fact as (

    select
        'gold.fact_orders' as layer,
        3 as layer_order,
        count(*) as orders,
        count(distinct order_id) as distinct_order_ids,
        sum(amount) as amount,
        sum(amount_reporting) as amount_reporting

    from {{ ref('fact_orders') }}

),

mart as (

    select
        'gold.mart_orders' as layer,
        4 as layer_order,
        count(*) as orders,
        count(distinct order_id) as distinct_order_ids,
        sum(amount) as amount,
        sum(revenue) as amount_reporting

    from {{ ref('mart_orders') }}

),

layers as (

    select * from raw_orders
    union all
    select * from staged_orders
    union all
    select * from fact
    union all
    select * from mart

),

final as (

    -- one row per layer: counts and totals next to the raw layer's, and whether they match
    select
        layers.layer,
        layers.layer_order,
        layers.orders,
        layers.distinct_order_ids,
        layers.amount,
        layers.amount_reporting,
        raw_orders.orders as raw_orders,
        raw_orders.amount as raw_amount,
        (
            layers.orders = raw_orders.orders
            and layers.distinct_order_ids = raw_orders.distinct_order_ids
            and coalesce(layers.amount, 0) = coalesce(raw_orders.amount, 0)
        ) as matches_raw

    from layers

    cross join raw_orders

)

select * from final
