{{ config(materialized='view') }}

{#
    Google Ads spend per layer, from raw to the reporting marts: in the account currency where the layer keeps it,
    in the reporting currency from the core ad fact on. Every layer must equal raw (and the first converted one).
#}

with

raw_campaign_days as (

    select
        'raw_google_ads.campaign_stats_daily' as layer,
        1 as layer_order,
        sum(cast(cost as decimal(38, 9))) as spend,
        cast(null as decimal(18, 2)) as spend_reporting

    from {{ source('google_ads', 'campaign_stats_daily') }}

),

ad_group_days as (

    select
        'gold.fct_google_ads_ad_group_daily' as layer,
        2 as layer_order,
        sum(spend) as spend,
        cast(null as decimal(18, 2)) as spend_reporting

    from {{ ref('fct_google_ads_ad_group_daily') }}

),

campaign_days as (

    select
        'gold.fct_ad_performance_daily' as layer,
        3 as layer_order,
        sum(spend) as spend,
        sum(spend_reporting) as spend_reporting

    from {{ ref('fct_ad_performance_daily') }}

    where platform = 'google_ads'

),

acquisition as (

    select
        'gold.mart_acquisition_daily' as layer,
        4 as layer_order,
        cast(null as decimal(18, 2)) as spend,
        sum(spend) as spend_reporting

    from {{ ref('mart_acquisition_daily') }}

    where platform = 'google_ads'

),

campaigns as (

    select
        'gold.mart_campaign_performance' as layer,
        5 as layer_order,
        cast(null as decimal(18, 2)) as spend,
        sum(ad_spend) as spend_reporting

    from {{ ref('mart_campaign_performance') }}

    where platform = 'google_ads'

),

layers as (

    select * from raw_campaign_days
    union all
    select * from ad_group_days
    union all
    select * from campaign_days
    union all
    select * from acquisition
    union all
    select * from campaigns

),

final as (

    select
        layers.layer,
        layers.layer_order,
        layers.spend,
        layers.spend_reporting,
        raw_campaign_days.spend as raw_spend,
        campaign_days.spend_reporting as converted_spend_reporting,
        (
            (layers.spend is null or coalesce(layers.spend, 0) = coalesce(raw_campaign_days.spend, 0))
            and (
                layers.spend_reporting is null
                or coalesce(layers.spend_reporting, 0) = coalesce(campaign_days.spend_reporting, 0)
            )
        ) as matches_upstream

    from layers

    cross join raw_campaign_days

    cross join campaign_days

)

select * from final
