-- GA4 sessions per day, source, medium and campaign (all properties) for the shared `web_analytics` interface
select
    date_day,
    source,
    medium,
    campaign_id,
    campaign_name,
    cast(sum(sessions) as {{ dbt.type_bigint() }}) as sessions

from {{ ref('stg_ga4__traffic_daily') }}

group by date_day, source, medium, campaign_id, campaign_name
