{{ config(materialized='view') }}

-- raw_crm.orders holds every delivered version of every order line: raw is compared on the latest version of
-- each line (order_id x line_kind, by crm_version_order), recomputed here from raw independently of Silver
with

raw_versions as (

    select
        order_id,
        line_kind,
        cast(amount as decimal(18, 2)) as amount,
        {{ crm_version_rank('order_id, line_kind') }} as version_rank

    from {{ source('crm', 'orders') }}

),

raw_latest as (

    select * from raw_versions
    where version_rank = 1

),

raw_lines as (

    select
        raw_latest.order_id,
        raw_latest.line_kind,
        raw_latest.amount,
        order_keys.order_id is not null as has_order

    from raw_latest

    left join raw_latest as order_keys
        on
            raw_latest.order_id = order_keys.order_id
            and order_keys.line_kind = 'order'

),

staged_latest as (

    select * from {{ ref('stg_crm__orders') }}

),

staged_lines as (

    select
        staged_latest.order_id,
        staged_latest.line_kind,
        staged_latest.amount,
        staged_latest.amount_reporting,
        order_keys.order_id is not null as has_order

    from staged_latest

    left join staged_latest as order_keys
        on
            staged_latest.order_id = order_keys.order_id
            and order_keys.line_kind = 'order'

),

orphans as (

    select
        count(*) as orphan_refunds,
        coalesce(sum(refund_amount), 0) as orphan_refund_amount

    from {{ ref('audit_crm_orphan_refunds') }}

),

raw_orders as (

    select
        'raw' as layer,
        1 as layer_order,
        count(case when line_kind = 'order' then 1 end) as orders,
        count(distinct case when line_kind = 'order' then order_id end) as distinct_order_ids,
        coalesce(sum(case when line_kind = 'order' then amount end), 0) as amount,
        cast(null as decimal(18, 2)) as amount_reporting,
        count(case when line_kind = 'refund' and has_order then 1 end) as refunds,
        coalesce(sum(case when line_kind = 'refund' and has_order then -amount end), 0) as refund_amount,
        cast(null as decimal(18, 2)) as refund_amount_reporting,
        count(case when line_kind = 'refund' and not has_order then 1 end) as orphan_refunds,
        coalesce(sum(case when line_kind = 'refund' and not has_order then -amount end), 0) as orphan_refund_amount,
        cast(null as decimal(18, 2)) as net_amount_reporting

    from raw_lines

),

staged_orders as (

    select
        'silver.stg_crm__orders' as layer,
        2 as layer_order,
        count(case when line_kind = 'order' then 1 end) as orders,
        count(distinct case when line_kind = 'order' then order_id end) as distinct_order_ids,
        coalesce(sum(case when line_kind = 'order' then amount end), 0) as amount,
        coalesce(sum(case when line_kind = 'order' then amount_reporting end), 0) as amount_reporting,
        count(case when line_kind = 'refund' and has_order then 1 end) as refunds,
        coalesce(sum(case when line_kind = 'refund' and has_order then -amount end), 0) as refund_amount,
        coalesce(sum(case when line_kind = 'refund' and has_order then -amount_reporting end), 0)
            as refund_amount_reporting,
        count(case when line_kind = 'refund' and not has_order then 1 end) as orphan_refunds,
        coalesce(sum(case when line_kind = 'refund' and not has_order then -amount end), 0) as orphan_refund_amount,
        coalesce(sum(case when line_kind = 'order' then amount_reporting end), 0)
        - coalesce(sum(case when line_kind = 'refund' and has_order then -amount_reporting end), 0)
            as net_amount_reporting

    from staged_lines

),

fact_totals as (

    -- the refund in the order's currency may be converted (a refund sent in another currency): compared in the
    -- reporting currency only; refunds without their order are the audit list's
    select
        'gold.fact_orders' as layer,
        3 as layer_order,
        count(*) as orders,
        count(distinct fact_orders.order_id) as distinct_order_ids,
        coalesce(sum(fact_orders.amount), 0) as amount,
        coalesce(sum(fact_orders.amount_reporting), 0) as amount_reporting,
        count(case when fact_orders.has_refund then 1 end) as refunds,
        cast(null as decimal(18, 2)) as refund_amount,
        coalesce(sum(fact_orders.refund_amount_reporting), 0) as refund_amount_reporting,
        coalesce(sum(fact_orders.net_amount_reporting), 0) as net_amount_reporting

    from {{ ref('fact_orders') }} as fact_orders

),

mart_totals as (

    select
        'gold.mart_orders' as layer,
        4 as layer_order,
        count(*) as orders,
        count(distinct mart_orders.order_id) as distinct_order_ids,
        coalesce(sum(mart_orders.amount), 0) as amount,
        coalesce(sum(mart_orders.gross_revenue), 0) as amount_reporting,
        count(case when mart_orders.has_refund then 1 end) as refunds,
        cast(null as decimal(18, 2)) as refund_amount,
        coalesce(sum(mart_orders.refunded_revenue), 0) as refund_amount_reporting,
        coalesce(sum(mart_orders.revenue), 0) as net_amount_reporting

    from {{ ref('mart_orders') }} as mart_orders

),

fact as (

    select
        fact_totals.layer,
        fact_totals.layer_order,
        fact_totals.orders,
        fact_totals.distinct_order_ids,
        fact_totals.amount,
        fact_totals.amount_reporting,
        fact_totals.refunds,
        fact_totals.refund_amount,
        fact_totals.refund_amount_reporting,
        orphans.orphan_refunds,
        orphans.orphan_refund_amount,
        fact_totals.net_amount_reporting

    from fact_totals

    cross join orphans

),

mart as (

    select
        mart_totals.layer,
        mart_totals.layer_order,
        mart_totals.orders,
        mart_totals.distinct_order_ids,
        mart_totals.amount,
        mart_totals.amount_reporting,
        mart_totals.refunds,
        mart_totals.refund_amount,
        mart_totals.refund_amount_reporting,
        orphans.orphan_refunds,
        orphans.orphan_refund_amount,
        mart_totals.net_amount_reporting

    from mart_totals

    cross join orphans

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

    -- one row per layer: counts and totals next to the raw layer's, and whether they match; every refund line is
    -- either on its order (refunds) or listed in audit_crm_orphan_refunds (orphan_refunds) in every layer
    select
        layers.layer,
        layers.layer_order,
        layers.orders,
        layers.distinct_order_ids,
        layers.amount,
        layers.amount_reporting,
        layers.refunds,
        layers.refund_amount,
        layers.refund_amount_reporting,
        layers.orphan_refunds,
        layers.orphan_refund_amount,
        layers.net_amount_reporting,
        raw_orders.orders as raw_orders,
        raw_orders.amount as raw_amount,
        (
            layers.orders = raw_orders.orders
            and layers.distinct_order_ids = raw_orders.distinct_order_ids
            and layers.amount = raw_orders.amount
            and layers.refunds = raw_orders.refunds
            and (layers.refund_amount is null or layers.refund_amount = raw_orders.refund_amount)
            and layers.orphan_refunds = raw_orders.orphan_refunds
            and layers.orphan_refund_amount = raw_orders.orphan_refund_amount
        ) as matches_raw

    from layers

    cross join raw_orders

)

select * from final
