{{ config(**day_incremental_config('date_day')) }}
{%- set reporting_currency = var('reporting_currency', 'EUR') | upper -%}

with

insights as (

    select
        *,
        {{ load_epoch('_dlt_load_id') }} as _load_epoch

    from {{ ref('stg_meta_ads__insights') }}

),

changed_days as (

    -- a re-fetched account-day is replaced in raw with a new load id: its whole day is rebuilt here
    select distinct date_day from insights
    where {{ changed_since_lookback('_load_epoch') }}

),

insight_actions as (

    select * from {{ ref('stg_meta_ads__insight_actions') }}

),

accounts as (

    select * from {{ ref('stg_meta_ads__accounts') }}

),

campaigns as (

    select * from {{ ref('stg_meta_ads__campaigns') }}

),

adsets as (

    select * from {{ ref('stg_meta_ads__adsets') }}

),

ads as (

    select * from {{ ref('stg_meta_ads__ads') }}

),

fx_rates as (

    select * from {{ ref('stg_fx_rates') }}

),

conversions as (

    -- conversions and their value per ad and day (one window, allow-listed action types only)
    select
        account_id,
        ad_id,
        date_day,
        sum(conversions) as conversions,
        sum(conversion_value) as conversion_value

    from insight_actions

    group by account_id, ad_id, date_day

),

joined as (

    -- current names from the objects; the names the insight row was fetched with if an object is missing
    select
        insights.date_day,
        insights.account_id,
        accounts.account_name,
        insights.campaign_id,
        coalesce(campaigns.campaign_name, insights.campaign_name) as campaign_name,
        insights.adset_id,
        coalesce(adsets.adset_name, insights.adset_name) as adset_name,
        insights.ad_id,
        coalesce(ads.ad_name, insights.ad_name) as ad_name,
        ads.creative_id,

        insights.spend,
        insights.currency,
        insights.impressions,
        insights.clicks,
        insights.inline_link_clicks,
        insights.reach,
        cast(coalesce(conversions.conversions, 0) as decimal(38, 9)) as conversions,
        cast(coalesce(conversions.conversion_value, 0) as decimal(18, 2)) as conversion_value,
        insights._load_epoch

    from insights

    left join conversions
        on
            insights.account_id = conversions.account_id
            and insights.ad_id = conversions.ad_id
            and insights.date_day = conversions.date_day

    left join accounts
        on insights.account_id = accounts.account_id

    left join campaigns
        on insights.campaign_id = campaigns.campaign_id

    left join adsets
        on insights.adset_id = adsets.adset_id

    left join ads
        on insights.ad_id = ads.ad_id

    where insights.date_day in (select changed_days.date_day from changed_days)

),

converted as (

    -- rate of the month of the reporting day; the reporting currency itself is always 1
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
        date_day,
        account_id,
        account_name,
        campaign_id,
        campaign_name,
        adset_id,
        adset_name,
        ad_id,
        ad_name,
        creative_id,

        spend,
        conversion_value,
        currency,
        {{ to_reporting('spend', 'fx_rate') }} as spend_reporting,
        {{ to_reporting('conversion_value', 'fx_rate') }} as conversion_value_reporting,
        '{{ reporting_currency }}' as reporting_currency,

        impressions,
        clicks,
        inline_link_clicks,
        reach,
        conversions,
        '{{ var("meta_attribution_window") }}' as attribution_window,
        _load_epoch

    from converted

)

select * from final
