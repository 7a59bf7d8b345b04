{{ config(**day_incremental_config('date_day')) }}
{%- set reporting_currency = var('reporting_currency', 'EUR') | upper -%}

{#
    Every installed ad platform's delivery (interface `ad_platform`), per platform, campaign and day: additive
    measures summed, converted into the reporting currency per platform row (ad-day) at the rate of the day's
    month, ratios recomputed from the sums.
#}

with

ad_rows as (

    select * from {{ ref('int_ad_performance_daily') }}

),

fx_rates as (

    select * from {{ ref('stg_fx_rates') }}

),

changed_days as (

    select distinct date_day from ad_rows
    where {{ changed_since_lookback('_load_epoch') }}

),

converted as (

    -- rate of the month of the reporting day; the reporting currency itself is always 1
    select
        ad_rows.*,
        {{ reporting_fx_rate('ad_rows.currency', 'fx_rates.rate_to_reporting') }} as fx_rate

    from ad_rows

    left join fx_rates
        on
            ad_rows.currency = fx_rates.currency
            and ad_rows.date_day >= fx_rates.valid_from
            and ad_rows.date_day < fx_rates.valid_to

    where ad_rows.date_day in (select changed_days.date_day from changed_days)

),

campaign_days as (

    -- additive measures only
    select
        platform,
        date_day,
        account_id,
        campaign_id,
        currency,
        sum(spend) as spend,
        sum(conversion_value) as conversion_value,
        sum({{ to_reporting('spend', 'fx_rate') }}) as spend_reporting,
        sum({{ to_reporting('conversion_value', 'fx_rate') }}) as conversion_value_reporting,
        sum(impressions) as impressions,
        sum(clicks) as clicks,
        sum(conversions) as conversions,
        max(_load_epoch) as _load_epoch,
        -- ratios from var `kpis`, over the sums of this grain, in the account currency
        {{ kpi('ctr') }} as ctr,
        {{ kpi('cpc') }} as cpc,
        {{ kpi('cost_per_conversion') }} as cost_per_conversion,
        {{ kpi('platform_roas') }} as platform_roas

    from converted

    group by platform, date_day, account_id, campaign_id, currency

),

final as (

    -- ratios from the sums of this grain (never averages of finer-grained ratios); null when undefined
    select
        platform,
        date_day,
        account_id,
        campaign_id,

        cast(spend as decimal(38, 9)) as spend,
        cast(conversion_value as decimal(38, 9)) as conversion_value,
        currency,
        cast(spend_reporting as decimal(18, 2)) as spend_reporting,
        cast(conversion_value_reporting as decimal(18, 2)) as conversion_value_reporting,
        '{{ reporting_currency }}' as reporting_currency,

        impressions,
        clicks,
        cast(conversions as decimal(38, 9)) as conversions,

        cast(round(ctr, 9) as decimal(18, 9)) as ctr,
        cast(round(cpc, 2) as decimal(18, 2)) as cpc,
        cast(round(cost_per_conversion, 2) as decimal(18, 2)) as cost_per_conversion,
        cast(round(platform_roas, 9) as decimal(18, 9)) as platform_roas,
        _load_epoch

    from campaign_days

)

select * from final
