{#
    Google Ads delivery per ad group and day (the account's time zone), in the account currency. A campaign's
    spend that no ad group reports (campaigns without ad groups, e.g. Performance Max) is kept as one row per
    campaign-day without an ad group, so the sum over this model equals the campaign-level metrics.
#}

with

ad_group_days as (

    select * from {{ ref('stg_google_ads__ad_group_stats') }}

),

campaign_days as (

    select * from {{ ref('stg_google_ads__campaign_stats') }}

),

ad_groups as (

    select * from {{ ref('stg_google_ads__ad_groups') }}

),

campaigns as (

    select * from {{ ref('stg_google_ads__campaigns') }}

),

ad_group_sums as (

    select
        account_id,
        campaign_id,
        date_day,
        sum(spend) as spend,
        sum(impressions) as impressions,
        sum(clicks) as clicks,
        sum(conversions) as conversions,
        sum(conversion_value) as conversion_value,
        sum(all_conversions) as all_conversions

    from ad_group_days

    group by account_id, campaign_id, date_day

),

campaign_remainder as (

    -- what the campaign reports beyond its ad groups
    select
        campaign_days.account_id,
        campaign_days.campaign_id,
        cast(null as {{ dbt.type_string() }}) as ad_group_id,
        campaign_days.date_day,
        campaign_days.currency,
        campaign_days.spend - coalesce(ad_group_sums.spend, 0) as spend,
        campaign_days.impressions - coalesce(ad_group_sums.impressions, 0) as impressions,
        campaign_days.clicks - coalesce(ad_group_sums.clicks, 0) as clicks,
        campaign_days.conversions - coalesce(ad_group_sums.conversions, 0) as conversions,
        campaign_days.conversion_value - coalesce(ad_group_sums.conversion_value, 0) as conversion_value,
        campaign_days.all_conversions - coalesce(ad_group_sums.all_conversions, 0) as all_conversions,
        campaign_days._dlt_load_id

    from campaign_days

    left join ad_group_sums
        on
            campaign_days.account_id = ad_group_sums.account_id
            and campaign_days.campaign_id = ad_group_sums.campaign_id
            and campaign_days.date_day = ad_group_sums.date_day

),

unioned as (

    select
        account_id,
        campaign_id,
        ad_group_id,
        date_day,
        currency,
        spend,
        impressions,
        clicks,
        conversions,
        conversion_value,
        all_conversions,
        _dlt_load_id

    from ad_group_days

    union all

    select
        account_id,
        campaign_id,
        ad_group_id,
        date_day,
        currency,
        spend,
        impressions,
        clicks,
        conversions,
        conversion_value,
        all_conversions,
        _dlt_load_id

    from campaign_remainder

    where
        spend != 0
        or impressions != 0
        or clicks != 0
        or conversions != 0
        or conversion_value != 0

),

final as (

    select
        unioned.date_day,
        unioned.account_id,
        unioned.campaign_id,
        campaigns.campaign_name,
        unioned.ad_group_id,
        ad_groups.ad_group_name,
        unioned.currency,
        cast(unioned.spend as decimal(38, 9)) as spend,
        cast(unioned.impressions as {{ dbt.type_bigint() }}) as impressions,
        cast(unioned.clicks as {{ dbt.type_bigint() }}) as clicks,
        cast(unioned.conversions as decimal(38, 9)) as conversions,
        cast(unioned.conversion_value as decimal(38, 9)) as conversion_value,
        cast(unioned.all_conversions as decimal(38, 9)) as all_conversions,
        {{ load_epoch('unioned._dlt_load_id') }} as _load_epoch

    from unioned

    left join campaigns
        on unioned.campaign_id = campaigns.campaign_id

    left join ad_groups
        on unioned.ad_group_id = ad_groups.ad_group_id

)

select * from final
