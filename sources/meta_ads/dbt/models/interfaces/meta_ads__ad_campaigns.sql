-- Meta campaigns for the shared `ad_platform` interface; their marketing channel is `facebook`
select
    cast('meta' as {{ dbt.type_string() }}) as platform,
    campaign_id,
    campaign_name,
    account_id,
    cast('facebook' as {{ dbt.type_string() }}) as channel,
    objective,
    status,
    effective_status,
    started_at_utc,
    stopped_at_utc,
    daily_budget,
    lifetime_budget,
    currency

from {{ ref('stg_meta_ads__campaigns') }}
