{{ config(materialized='view') }}

with

staged as (

    select
        'silver.stg_meta_ads__insights' as layer,
        1 as layer_order,
        sum(spend) as spend,
        cast(null as decimal(18, 2)) as spend_reporting

    from {{ ref('stg_meta_ads__insights') }}

),

ads as (

    select
        'gold.dim_meta_ads' as layer,
        2 as layer_order,
        sum(spend) as spend,
        sum(spend_reporting) as spend_reporting

    from {{ ref('dim_meta_ads') }}

),

campaign_days as (

    select
        'gold.fct_ad_performance_daily' as layer,
        3 as layer_order,
        sum(spend) as spend,
        sum(spend_reporting) as spend_reporting

    from {{ ref('fct_ad_performance_daily') }}

    where platform = 'meta'

),

acquisition as (

    select
        'gold.mart_acquisition_daily' as layer,
        4 as layer_order,
        cast(null as decimal(18, 2)) as spend,
        sum(spend) as spend_reporting

    from {{ ref('mart_acquisition_daily') }}

    where platform = 'meta'

),

campaigns as (

    select
        'gold.mart_campaign_performance' as layer,
        5 as layer_order,
        cast(null as decimal(18, 2)) as spend,
        sum(ad_spend) as spend_reporting

    from {{ ref('mart_campaign_performance') }}

    where platform = 'meta'

),

layers as (

    select * from staged
    union all
    select * from ads
    union all
    select * from campaign_days
    union all
    select * from acquisition
    union all
    select * from campaigns

),

final as (

    -- one row per layer: spend in the account currencies (summed as delivered) where the layer keeps it, and
    -- in the reporting currency from the first conversion (dim_meta_ads) on; both must equal the first layer's
    select
        layers.layer,
        layers.layer_order,
        layers.spend,
        layers.spend_reporting,
        staged.spend as staged_spend,
        ads.spend_reporting as converted_spend_reporting,
        (
            (layers.spend is null or coalesce(layers.spend, 0) = coalesce(staged.spend, 0))
            and (
                layers.spend_reporting is null
                or coalesce(layers.spend_reporting, 0) = coalesce(ads.spend_reporting, 0)
            )
        ) as matches_upstream

    from layers

    cross join staged

    cross join ads

)

select * from final
