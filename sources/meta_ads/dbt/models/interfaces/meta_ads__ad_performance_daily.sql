-- Meta delivery per ad and day for the shared `ad_platform` interface (an ad group is a Meta ad set)
select
    cast('meta' as {{ dbt.type_string() }}) as platform,
    date_day,
    account_id,
    campaign_id,
    adset_id as ad_group_id,
    ad_id,
    currency,
    cast(spend as decimal(38, 9)) as spend,
    cast(impressions as {{ dbt.type_bigint() }}) as impressions,
    cast(clicks as {{ dbt.type_bigint() }}) as clicks,
    cast(conversions as decimal(38, 9)) as conversions,
    cast(conversion_value as decimal(38, 9)) as conversion_value,
    _load_epoch

from {{ ref('dim_meta_ads') }}
