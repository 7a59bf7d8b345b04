-- GA4 purchases (one per transaction id) for the shared `web_analytics` interface: the session each came from
select
    transaction_id,
    user_pseudo_id,
    event_at_utc,
    date_day,
    source,
    medium,
    campaign_id,
    campaign_name

from {{ ref('stg_ga4__purchases') }}
