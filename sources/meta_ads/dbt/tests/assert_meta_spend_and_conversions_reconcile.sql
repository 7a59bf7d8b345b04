{{ config(tags=['critical']) }}

-- spend and conversions per ad account and day are the same in Silver (stg_meta_ads__insights,
-- stg_meta_ads__insight_actions), at ad grain (dim_meta_ads) and at campaign grain (fct_ad_performance_daily):
-- no insight row or conversion is lost or duplicated by the joins and roll-ups
with

staged_spend as (

    select
        account_id,
        date_day,
        sum(spend) as spend

    from {{ ref('stg_meta_ads__insights') }}

    group by account_id, date_day

),

staged_conversions as (

    select
        account_id,
        date_day,
        sum(conversions) as conversions

    from {{ ref('stg_meta_ads__insight_actions') }}

    group by account_id, date_day

),

staged as (

    select
        staged_spend.account_id,
        staged_spend.date_day,
        staged_spend.spend,
        coalesce(staged_conversions.conversions, 0) as conversions

    from staged_spend

    left join staged_conversions
        on
            staged_spend.account_id = staged_conversions.account_id
            and staged_spend.date_day = staged_conversions.date_day

),

ads as (

    select
        account_id,
        date_day,
        sum(spend) as spend,
        sum(conversions) as conversions,
        sum(conversion_value) as conversion_value

    from {{ ref('dim_meta_ads') }}

    group by account_id, date_day

),

campaigns as (

    select
        account_id,
        date_day,
        sum(spend) as spend,
        sum(conversions) as conversions,
        sum(conversion_value) as conversion_value

    from {{ ref('fct_ad_performance_daily') }}

    where platform = 'meta'

    group by account_id, date_day

),

compared as (

    select
        coalesce(staged.account_id, ads.account_id, campaigns.account_id) as account_id,
        coalesce(staged.date_day, ads.date_day, campaigns.date_day) as date_day,
        staged.spend as staged_spend,
        ads.spend as ads_spend,
        campaigns.spend as campaigns_spend,
        staged.conversions as staged_conversions,
        ads.conversions as ads_conversions,
        campaigns.conversions as campaigns_conversions,
        ads.conversion_value as ads_conversion_value,
        campaigns.conversion_value as campaigns_conversion_value

    from staged

    full outer join ads
        on
            staged.account_id = ads.account_id
            and staged.date_day = ads.date_day

    full outer join campaigns
        on
            coalesce(staged.account_id, ads.account_id) = campaigns.account_id
            and coalesce(staged.date_day, ads.date_day) = campaigns.date_day

)

select * from compared

where
    staged_spend is distinct from ads_spend
    or staged_spend is distinct from campaigns_spend
    or staged_conversions is distinct from ads_conversions
    or staged_conversions is distinct from campaigns_conversions
    -- conversion value is rounded to cents per ad and day in dim_meta_ads: compare from there on
    or ads_conversion_value is distinct from campaigns_conversion_value
