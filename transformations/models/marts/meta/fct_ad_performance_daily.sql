{{ config(**day_incremental_config('date_day')) }}
{%- set reporting_currency = var('reporting_currency', 'EUR') | upper -%}

with

meta_ads as (

    select * from {{ ref('dim_meta_ads') }}

),

changed_days as (

    select distinct date_day from meta_ads
    where {{ changed_since_lookback('_load_epoch') }}

),

meta_campaign_days as (

    -- additive measures only; reach is not additive across ads and is left out
    select
        'meta' as platform,
        date_day,
        account_id,
        campaign_id,
        currency,
        sum(spend) as spend,
        sum(conversion_value) as conversion_value,
        -- converted per ad-day in dim_meta_ads (one conversion rule), summed here
        sum(spend_reporting) as spend_reporting,
        sum(conversion_value_reporting) as conversion_value_reporting,
        sum(impressions) as impressions,
        sum(clicks) as clicks,
        sum(inline_link_clicks) as inline_link_clicks,
        sum(conversions) as conversions,
        max(_load_epoch) as _load_epoch,
        -- ratios from var `kpis`, over the sums of this grain, in the account currency
        {{ kpi('ctr') }} as ctr,
        {{ kpi('cpc') }} as cpc,
        {{ kpi('cost_per_conversion') }} as cost_per_conversion,
        {{ kpi('platform_roas') }} as platform_roas

    from meta_ads

    where date_day in (select changed_days.date_day from changed_days)

    group by date_day, account_id, campaign_id, currency

),

final as (

    -- ratios from the sums of this grain (never averages of finer-grained ratios); null when undefined
    select
        platform,
        date_day,
        account_id,
        campaign_id,

        cast(spend as decimal(38, 9)) as spend,
        cast(conversion_value as decimal(18, 2)) as conversion_value,
        currency,
        cast(spend_reporting as decimal(18, 2)) as spend_reporting,
        cast(conversion_value_reporting as decimal(18, 2)) as conversion_value_reporting,
        '{{ reporting_currency }}' as reporting_currency,

        impressions,
        clicks,
        inline_link_clicks,
        cast(conversions as decimal(38, 9)) as conversions,

        cast(round(ctr, 9) as decimal(18, 9)) as ctr,
        cast(round(cpc, 2) as decimal(18, 2)) as cpc,
        cast(round(cost_per_conversion, 2) as decimal(18, 2)) as cost_per_conversion,
        cast(round(platform_roas, 9) as decimal(18, 9)) as platform_roas,
        _load_epoch

    from meta_campaign_days

)

select * from final
