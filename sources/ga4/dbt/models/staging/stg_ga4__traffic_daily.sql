with

source as (

    select * from {{ source('ga4', 'report_traffic_daily') }}

),

renamed as (

    -- explicit column list: metrics that a later report definition adds do not leak into Silver
    select
        ----------  ids and dimensions (GA4's placeholders such as `(direct)` / `(none)` are kept as sent)
        nullif(trim(cast(property_id as string)), '') as property_id,
        cast(date as date) as date_day,
        nullif(trim(session_source), '') as source,  -- noqa: RF04
        nullif(trim(session_medium), '') as medium,
        nullif(trim(session_campaign_name), '') as campaign_name,
        nullif(nullif(trim(cast(session_campaign_id as string)), ''), '(not set)') as campaign_id,

        ----------  additive metrics
        cast(coalesce(sessions, 0) as bigint) as sessions,
        cast(coalesce(engaged_sessions, 0) as bigint) as engaged_sessions,
        cast(coalesce(key_events, 0) as decimal(18, 4)) as key_events,
        cast(coalesce(purchase_revenue, 0) as decimal(18, 2)) as purchase_revenue,

        ----------  users of this row's day and dimensions only: never sum across days or rows
        cast(total_users as bigint) as total_users,

        ----------  lineage
        _dlt_load_id

    from source

),

final as (

    select
        property_id,
        date_day,
        source,
        medium,
        campaign_name,
        campaign_id,

        sessions,
        engaged_sessions,
        key_events,
        purchase_revenue,
        total_users,

        _dlt_load_id

    from renamed

)

select * from final
