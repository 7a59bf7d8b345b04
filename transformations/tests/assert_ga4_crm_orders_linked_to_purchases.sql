{{ config(severity='warn') }}

-- share of CRM orders whose transaction id GA4 reports as a purchase, over the days GA4 has purchases for;
-- a low share points to broken tracking (consent, blockers, a missing transaction_id in the data layer)
-- or to a GA4 load that is behind. Fails (warns) below var `ga4_min_linkage_rate` and shows the rate.
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
        case when ga4_transactions.transaction_id is not null then 1 else 0 end as is_linked

    from orders

    cross join ga4_window

    left join ga4_transactions
        on orders.transaction_id = ga4_transactions.transaction_id

    where orders.order_date_local between ga4_window.first_day and ga4_window.last_day

),

final as (

    select
        count(*) as crm_orders,
        sum(is_linked) as linked_orders,
        cast(round(sum(is_linked) / count(*), 4) as decimal(18, 4)) as linkage_rate,
        {{ var('ga4_min_linkage_rate', 0.8) }} as min_linkage_rate

    from orders_in_window

    having count(*) > 0

)

select * from final

where linkage_rate < min_linkage_rate
