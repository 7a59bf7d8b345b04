with

meta_campaigns as (

    select * from {{ ref('stg_meta_ads__campaigns') }}

),

orders as (

    select * from {{ ref('stg_crm__orders') }}

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
        currency

    from meta_campaigns

),

crm_only as (

    -- campaign ids the CRM knows but no ad platform source delivers (yet): platform from the CRM channel
    select
        crm_campaign_channels.campaign_id,
        cast(null as {{ dbt.type_string() }}) as campaign_name,
        case crm_campaign_channels.channel
            when 'facebook' then 'meta'
            when 'google' then 'google_ads'
            when 'display' then 'display'
            when 'email' then 'email'
            else 'unknown'
        end as platform,
        crm_campaign_channels.channel,
        'crm' as campaign_source,
        cast(null as {{ dbt.type_string() }}) as account_id,
        cast(null as {{ dbt.type_string() }}) as objective,
        cast(null as {{ dbt.type_string() }}) as status,
        cast(null as {{ dbt.type_string() }}) as effective_status,
        cast(null as {{ dbt.type_timestamp() }}) as started_at_utc,
        cast(null as {{ dbt.type_timestamp() }}) as stopped_at_utc,
        cast(null as decimal(18, 2)) as daily_budget,
        cast(null as decimal(18, 2)) as lifetime_budget,
        cast(null as {{ dbt.type_string() }}) as currency

    from crm_campaign_channels

    left join meta_campaigns
        on crm_campaign_channels.campaign_id = meta_campaigns.campaign_id

    where
        crm_campaign_channels.channel_rank = 1
        and meta_campaigns.campaign_id is null

),

final as (

    select * from meta

    union all

    select * from crm_only

)

select * from final
