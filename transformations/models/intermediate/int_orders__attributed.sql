{#
    Attribution of every CRM order (see _intermediate__models.yml for the rules and var `attribution_model`).
#}

with

orders as (

    -- order lines only: a refund is attributed with its order (fact_orders nets it)
    select * from {{ ref('int_order_lines') }}
    where line_kind = 'order'

),

purchases as (

    select * from {{ ref('int_web_purchases') }}

),

campaigns as (

    select
        campaign_id,
        campaign_name,
        {{ campaign_name_key('campaign_name') }} as name_key

    from {{ ref('dim_campaign') }}

),

sessions as (

    -- the GA4 sessions the warehouse knows per user: the session of each purchase
    select
        user_pseudo_id,
        event_at_utc,
        source,
        medium,
        campaign_id,
        campaign_name,
        {{ channel_grouping('source', 'medium') }} = 'direct' as is_direct

    from purchases

    where user_pseudo_id is not null and event_at_utc is not null

),

linked as (

    -- an order meets its GA4 purchase by transaction id
    select
        orders.order_id,
        orders.ordered_at_utc,
        orders.utm_source,
        orders.utm_medium,
        orders.campaign_id as order_campaign_id,
        orders.channel as order_channel,
        purchases.transaction_id as ga4_transaction_id,
        coalesce(purchases.user_pseudo_id, orders.user_pseudo_id) as user_pseudo_id,
        purchases.event_at_utc as ga4_event_at_utc,
        purchases.source as ga4_source,
        purchases.medium as ga4_medium,
        purchases.campaign_id as ga4_campaign_id,
        purchases.campaign_name as ga4_campaign_name,
        {{ channel_grouping('purchases.source', 'purchases.medium') }} as ga4_channel

    from orders

    left join purchases
        on orders.transaction_id = purchases.transaction_id

    where orders.order_id is not null

),

last_non_direct as (

    -- with `last_non_direct`, a purchase in a direct session takes the user's latest earlier non-direct session
    -- within the window
    select
        linked.order_id,
        sessions.source,
        sessions.medium,
        sessions.campaign_id,
        sessions.campaign_name,
        row_number() over (
            partition by linked.order_id order by sessions.event_at_utc desc, sessions.source asc, sessions.medium asc
        ) as session_rank

    from linked

    inner join sessions
        on
            linked.user_pseudo_id = sessions.user_pseudo_id
            and linked.ga4_event_at_utc > sessions.event_at_utc
            and {{ dbt.datediff('sessions.event_at_utc', 'linked.ga4_event_at_utc', 'second') }}
            <= {{ var('attribution_window_days', 30) }} * 86400

    where
        '{{ attribution_model() }}' = 'last_non_direct'
        and linked.ga4_channel = 'direct'
        and not sessions.is_direct

),

chosen as (

    select
        linked.order_id,
        linked.ga4_transaction_id,
        linked.ga4_event_at_utc,
        case
            when last_non_direct.order_id is not null then 'ga4_last_non_direct'
            when linked.ga4_transaction_id is not null then 'ga4_last_click'
            when
                coalesce(linked.utm_source, linked.utm_medium, linked.order_campaign_id, linked.order_channel)
                is not null
                then 'crm_utm'
            else 'unattributed'
        end as attribution_method,
        coalesce(last_non_direct.source, linked.ga4_source, linked.utm_source) as attributed_source,
        coalesce(last_non_direct.medium, linked.ga4_medium, linked.utm_medium) as attributed_medium,
        case
            when last_non_direct.order_id is not null then last_non_direct.campaign_id
            else linked.ga4_campaign_id
        end as session_campaign_id,
        case
            when last_non_direct.order_id is not null then last_non_direct.campaign_name
            else linked.ga4_campaign_name
        end as session_campaign_name,
        linked.order_campaign_id,
        linked.order_channel

    from linked

    left join last_non_direct
        on
            linked.order_id = last_non_direct.order_id
            and last_non_direct.session_rank = 1

),

campaign_names as (

    -- name keys that identify exactly one known campaign (the fallback match)
    select
        name_key,
        min(campaign_id) as campaign_id

    from campaigns

    where name_key is not null

    group by name_key

    having count(*) = 1

),

matched as (

    -- campaign: the session's campaign id when known; else its campaign name matched to a known campaign's
    -- name; else, without a GA4 session, the order's own campaign id
    select
        chosen.*,
        case
            when chosen.attribution_method in ('crm_utm', 'unattributed') then chosen.order_campaign_id
            when by_id.campaign_id is not null then by_id.campaign_id
            when by_name.campaign_id is not null then by_name.campaign_id
            else chosen.session_campaign_id
        end as attributed_campaign_id,
        case
            when chosen.attribution_method in ('crm_utm', 'unattributed')
                then case when chosen.order_campaign_id is not null then 'crm_campaign_id' else 'none' end
            when by_id.campaign_id is not null then 'campaign_id'
            when by_name.campaign_id is not null then 'campaign_name'
            when chosen.session_campaign_id is not null then 'unknown_campaign_id'
            else 'none'
        end as campaign_match

    from chosen

    left join campaigns as by_id
        on chosen.session_campaign_id = by_id.campaign_id

    left join campaign_names as by_name
        on {{ campaign_name_key('chosen.session_campaign_name') }} = by_name.name_key

),

final as (

    select
        matched.order_id,
        matched.attribution_method,
        matched.attributed_source,
        matched.attributed_medium,
        matched.attributed_campaign_id,
        coalesce(campaigns.campaign_name, matched.session_campaign_name) as attributed_campaign_name,
        case
            when matched.attribution_method like 'ga4_%'
                then {{ channel_grouping('matched.attributed_source', 'matched.attributed_medium') }}
            when matched.attribution_method = 'crm_utm'
                then
                    coalesce(
                        matched.order_channel,
                        {{ channel_grouping('matched.attributed_source', 'matched.attributed_medium') }}
                    )
            else 'direct'
        end as attributed_channel,
        matched.campaign_match,
        matched.ga4_transaction_id is not null as is_linked_to_ga4,
        matched.ga4_event_at_utc

    from matched

    left join campaigns
        on matched.attributed_campaign_id = campaigns.campaign_id

)

select * from final
