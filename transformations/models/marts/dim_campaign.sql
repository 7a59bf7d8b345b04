{#
    Every campaign the warehouse knows: the campaigns of the installed ad platforms (interface `ad_platform`),
    and the campaign ids that only orders or web analytics name. Campaign ids are assumed unique across
    platforms (the unique test on campaign_id fails the build otherwise).
#}

with

ad_campaigns as (

    select * from {{ ref('int_ad_campaigns') }}

),

ad_days as (

    select * from {{ ref('int_ad_performance_daily') }}

),

orders as (

    -- order lines only: a refund line repeats its order's campaign
    select * from {{ ref('int_order_lines') }}
    where line_kind = 'order'

),

web_sessions as (

    select * from {{ ref('int_web_sessions_daily') }}

),

web_purchases as (

    select * from {{ ref('int_web_purchases') }}

),

order_campaign_channels as (

    -- a campaign id can arrive with several channels in the CRM: the channel with the most orders wins,
    -- ties go to the alphabetically first channel
    select
        campaign_id,
        channel,
        row_number() over (
            partition by campaign_id order by count(*) desc, channel
        ) as channel_rank

    from orders

    where campaign_id is not null

    group by campaign_id, channel

),

web_campaign_sessions as (

    select
        campaign_id,
        campaign_name,
        {{ channel_grouping('source', 'medium') }} as channel,
        date_day,
        sessions

    from web_sessions

    where campaign_id is not null

    union all

    select
        campaign_id,
        campaign_name,
        {{ channel_grouping('source', 'medium') }} as channel,
        date_day,
        1 as sessions

    from web_purchases

    where campaign_id is not null

),

web_campaign_names as (

    -- the name and channel GA4 reports most often for a campaign id
    select
        campaign_id,
        campaign_name,
        channel,
        row_number() over (
            partition by campaign_id order by sum(sessions) desc, campaign_name, channel asc
        ) as name_rank

    from web_campaign_sessions

    group by campaign_id, campaign_name, channel

),

activity as (

    -- days on which a campaign had orders, web sessions or ad delivery
    select
        campaign_id,
        order_date_utc as date_day
    from orders
    where campaign_id is not null
    union all
    select
        campaign_id,
        date_day
    from web_campaign_sessions
    union all
    select
        campaign_id,
        date_day
    from ad_days
    where campaign_id is not null

),

activity_ranges as (

    select
        campaign_id,
        min(date_day) as first_seen_date,
        max(date_day) as last_seen_date

    from activity

    group by campaign_id

),

platform_campaigns as (

    select
        campaign_id,
        campaign_name,
        platform,
        channel,
        platform as campaign_source,
        account_id,
        objective,
        status,
        effective_status,
        started_at_utc,
        stopped_at_utc,
        daily_budget,
        lifetime_budget,
        currency,
        true as has_spend_data

    from ad_campaigns

),

other_ids as (

    -- campaign ids orders or web analytics name but no installed ad platform delivers (yet)
    select campaign_id from order_campaign_channels
    where channel_rank = 1
    union distinct
    select campaign_id from web_campaign_names
    where name_rank = 1

),

other as (

    select
        other_ids.campaign_id,
        web_campaign_names.campaign_name,
        case coalesce(order_campaign_channels.channel, web_campaign_names.channel)
            when 'facebook' then 'meta'
            when 'google' then 'google_ads'
            when 'display' then 'display'
            when 'email' then 'email'
            when 'organic' then 'organic'
            else 'unknown'
        end as platform,
        coalesce(order_campaign_channels.channel, web_campaign_names.channel) as channel,
        case
            when order_campaign_channels.campaign_id is not null and web_campaign_names.campaign_id is not null
                then 'orders, web_analytics'
            when order_campaign_channels.campaign_id is not null then 'orders'
            else 'web_analytics'
        end as campaign_source,
        cast(null as {{ dbt.type_string() }}) as account_id,
        cast(null as {{ dbt.type_string() }}) as objective,
        cast(null as {{ dbt.type_string() }}) as status,
        cast(null as {{ dbt.type_string() }}) as effective_status,
        cast(null as {{ dbt.type_timestamp() }}) as started_at_utc,
        cast(null as {{ dbt.type_timestamp() }}) as stopped_at_utc,
        cast(null as decimal(18, 2)) as daily_budget,
        cast(null as decimal(18, 2)) as lifetime_budget,
        cast(null as {{ dbt.type_string() }}) as currency,
        false as has_spend_data

    from other_ids

    left join order_campaign_channels
        on
            other_ids.campaign_id = order_campaign_channels.campaign_id
            and order_campaign_channels.channel_rank = 1

    left join web_campaign_names
        on
            other_ids.campaign_id = web_campaign_names.campaign_id
            and web_campaign_names.name_rank = 1

    left join ad_campaigns
        on other_ids.campaign_id = ad_campaigns.campaign_id

    where ad_campaigns.campaign_id is null

),

unioned as (

    select * from platform_campaigns

    union all

    select * from other

),

final as (

    select
        unioned.*,
        activity_ranges.first_seen_date,
        activity_ranges.last_seen_date

    from unioned

    left join activity_ranges
        on unioned.campaign_id = activity_ranges.campaign_id

)

select * from final
