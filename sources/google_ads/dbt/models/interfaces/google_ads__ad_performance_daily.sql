-- Google Ads delivery per ad group and day for the shared `ad_platform` interface (metrics are fetched at ad group
-- level: ad_id stays null; a campaign's spend outside its ad groups has no ad group either)
select
    cast('google_ads' as {{ dbt.type_string() }}) as platform,
    date_day,
    account_id,
    campaign_id,
    ad_group_id,
    cast(null as {{ dbt.type_string() }}) as ad_id,
    currency,
    cast(spend as decimal(38, 9)) as spend,
    cast(impressions as {{ dbt.type_bigint() }}) as impressions,
    cast(clicks as {{ dbt.type_bigint() }}) as clicks,
    cast(conversions as decimal(38, 9)) as conversions,
    cast(conversion_value as decimal(38, 9)) as conversion_value,
    _load_epoch

from {{ ref('fct_google_ads_ad_group_daily') }}
