{%- set reporting_currency = var('reporting_currency', 'EUR') | upper -%}

with

purchases as (

    select * from {{ ref('stg_ga4__purchases') }}

),

properties as (

    select * from {{ ref('stg_ga4__properties') }}

),

orders as (

    select * from {{ ref('fact_orders') }}

),

fx_rates as (

    select * from {{ ref('stg_fx_rates') }}

),

crm_transactions as (

    -- one CRM order per transaction id (the first order id if the shop ever reused one)
    select
        transaction_id,
        min(order_id) as crm_order_id

    from orders

    where transaction_id is not null

    group by transaction_id

),

joined as (

    -- events without a transaction id can neither be de-duplicated nor linked: they stay in Silver only
    select
        purchases.transaction_id,
        crm_transactions.crm_order_id,
        purchases.user_pseudo_id,
        purchases.property_id,

        purchases.event_at_utc,
        cast(purchases.event_at_utc as date) as event_date_utc,
        purchases.date_day,

        purchases.source,
        purchases.medium,
        purchases.campaign_name,
        purchases.campaign_id,

        purchases.purchase_value,
        properties.currency,
        purchases.purchase_events

    from purchases

    left join crm_transactions
        on purchases.transaction_id = crm_transactions.transaction_id

    left join properties
        on purchases.property_id = properties.property_id

    where purchases.transaction_id is not null

),

converted as (

    -- rate of the month of the property's day; the reporting currency itself is always 1
    select
        joined.*,
        {{ reporting_fx_rate('joined.currency', 'fx_rates.rate_to_reporting') }} as fx_rate

    from joined

    left join fx_rates
        on
            joined.currency = fx_rates.currency
            and joined.date_day >= fx_rates.valid_from
            and joined.date_day < fx_rates.valid_to

),

final as (

    select
        transaction_id,
        crm_order_id,
        user_pseudo_id,
        property_id,

        event_at_utc,
        event_date_utc,
        date_day,

        source,
        medium,
        campaign_name,
        campaign_id,

        purchase_value,
        currency,
        {{ to_reporting('purchase_value', 'fx_rate') }} as purchase_value_reporting,
        '{{ reporting_currency }}' as reporting_currency,

        purchase_events

    from converted

)

select * from final
