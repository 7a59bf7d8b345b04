{{ config(**day_incremental_config('date_day')) }}
{%- set reporting_currency = var('reporting_currency', 'EUR') | upper -%}

with

traffic as (

    select
        *,
        {{ load_epoch('_dlt_load_id') }} as _load_epoch

    from {{ ref('stg_ga4__traffic_daily') }}

),

changed_days as (

    -- late GA4 data re-fetched within the lookback replaces its property-day in raw: rebuild the whole day
    select distinct date_day from traffic
    where {{ changed_since_lookback('_load_epoch') }}

),

properties as (

    select * from {{ ref('stg_ga4__properties') }}

),

fx_rates as (

    select * from {{ ref('stg_fx_rates') }}

),

traffic_days as (

    -- additive metrics only; total_users is not additive across rows or days and is left out
    select
        property_id,
        date_day,
        source,
        medium,
        campaign_name,
        campaign_id,
        sum(sessions) as sessions,
        sum(engaged_sessions) as engaged_sessions,
        sum(key_events) as key_events,
        sum(purchase_revenue) as purchase_revenue,
        max(_load_epoch) as _load_epoch

    from traffic

    where date_day in (select changed_days.date_day from changed_days)

    group by property_id, date_day, source, medium, campaign_name, campaign_id

),

converted as (

    -- rate of the month of the property's day; the reporting currency itself is always 1
    select
        traffic_days.*,
        properties.currency,
        {{ reporting_fx_rate('properties.currency', 'fx_rates.rate_to_reporting') }} as fx_rate

    from traffic_days

    left join properties
        on traffic_days.property_id = properties.property_id

    left join fx_rates
        on
            properties.currency = fx_rates.currency
            and traffic_days.date_day >= fx_rates.valid_from
            and traffic_days.date_day < fx_rates.valid_to

),

final as (

    -- ratios from the sums of this grain (never averages of finer-grained ratios); null when undefined
    select
        property_id,
        date_day,
        source,
        medium,
        campaign_name,
        campaign_id,

        sessions,
        engaged_sessions,
        cast(key_events as decimal(18, 4)) as key_events,
        cast(round(engaged_sessions / nullif(sessions, 0), 9) as decimal(18, 9)) as engagement_rate,

        cast(purchase_revenue as decimal(18, 2)) as purchase_revenue,
        currency,
        {{ to_reporting('purchase_revenue', 'fx_rate') }} as purchase_revenue_reporting,
        '{{ reporting_currency }}' as reporting_currency,
        _load_epoch

    from converted

)

select * from final
