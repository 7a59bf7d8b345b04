with

meta_campaigns as (

    select * from {{ ref('stg_meta_ads__campaigns') }}

),

meta_insights as (

    select * from {{ ref('stg_meta_ads__insights') }}

),

orders as (

    -- order lines only: a refund line repeats its order's campaign
    select * from {{ ref('stg_crm__orders') }}
    where line_kind = 'order'

),

ga4_traffic as (

    select * from {{ ref('stg_ga4__traffic_daily') }}

),

ga4_purchases as (

    select * from {{ ref('stg_ga4__purchases') }}

),

crm_campaign_channels as (

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

ga4_sessions as (

    select
        campaign_id,
        campaign_name,
        {{ channel_grouping('source', 'medium') }} as channel,
        date_day,
        sessions

    from ga4_traffic

    where campaign_id is not null

    union all

    select
        campaign_id,
        campaign_name,
        {{ channel_grouping('source', 'medium') }} as channel,
        date_day,
        1 as sessions

    from ga4_purchases

    where campaign_id is not null

),

ga4_campaign_names as (

    -- the name and channel GA4 reports most often for a campaign id
    select
        campaign_id,
        campaign_name,
        channel,
        row_number() over (
            partition by campaign_id order by sum(sessions) desc, campaign_name, channel asc
        ) as name_rank

    from ga4_sessions

    group by campaign_id, campaign_name, channel

),

activity as (

    -- days on which a campaign had orders, GA4 sessions or Meta delivery
    select
        campaign_id,
        order_date_utc as date_day
    from orders
    where campaign_id is not null
    union all
    select
        campaign_id,
        date_day
    from ga4_sessions
    union all
    select
        campaign_id,
        date_day
    from meta_insights
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

meta as (

    select
        campaign_id,
        campaign_name,
        'meta' as platform,
        'facebook' as channel,
        'meta_ads' as campaign_source,
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

    from meta_campaigns

),

other_ids as (

    -- campaign ids the CRM or GA4 know but no ad platform source delivers (yet)
    select campaign_id from crm_campaign_channels
    where channel_rank = 1
    union distinct
    select campaign_id from ga4_campaign_names
    where name_rank = 1

),

other as (

    select
        other_ids.campaign_id,
        ga4_campaign_names.campaign_name,
        case coalesce(crm_campaign_channels.channel, ga4_campaign_names.channel)
            when 'facebook' then 'meta'
            when 'google' then 'google_ads'
            when 'display' then 'display'
            when 'email' then 'email'
            when 'organic' then 'organic'
            else 'unknown'
        end as platform,
        coalesce(crm_campaign_channels.channel, ga4_campaign_names.channel) as channel,
        case
            when crm_campaign_channels.campaign_id is not null and ga4_campaign_names.campaign_id is not null
                then 'crm, ga4'
            when crm_campaign_channels.campaign_id is not null then 'crm'
            else 'ga4'
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

    left join crm_campaign_channels
        on
            other_ids.campaign_id = crm_campaign_channels.campaign_id
            and crm_campaign_channels.channel_rank = 1

    left join ga4_campaign_names
        on
            other_ids.campaign_id = ga4_campaign_names.campaign_id
            and ga4_campaign_names.name_rank = 1

    left join meta_campaigns
        on other_ids.campaign_id = meta_campaigns.campaign_id

    where meta_campaigns.campaign_id is null

),

unioned as (

    select * from meta

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
