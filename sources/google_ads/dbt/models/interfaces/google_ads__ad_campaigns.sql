-- Google Ads campaigns for the shared `ad_platform` interface; their marketing channel is `google` (the CRM's and
-- GA4's name for Google traffic); start/end in UTC (from the account's time zone)
select
    cast('google_ads' as {{ dbt.type_string() }}) as platform,
    campaign_id,
    campaign_name,
    account_id,
    cast('google' as {{ dbt.type_string() }}) as channel,
    channel_type as objective,
    status,
    status as effective_status,
    started_at_utc,
    stopped_at_utc,
    daily_budget,
    cast(null as decimal(18, 2)) as lifetime_budget,
    currency

from {{ ref('stg_google_ads__campaigns') }}
