with

source as (

    select * from {{ source('ga4', 'report_purchases') }}

    -- GA4's "(other)" bucket is many transactions rolled into one: never a purchase (the loader keeps such rows
    -- in raw_ga4.other_rows; this guards rows loaded before it did)
    where coalesce(trim(cast(transaction_id as string)), '') != '(other)'

),

renamed as (

    -- explicit column list: dimensions that a later report definition adds do not leak into Silver
    select
        ----------  ids
        nullif(nullif(trim(cast(transaction_id as string)), ''), '(not set)') as transaction_id,
        nullif(trim(cast(property_id as string)), '') as property_id,
        nullif(nullif(trim(cast(user_pseudo_id as string)), ''), '(not set)') as user_pseudo_id,

        ----------  time: the UTC instant, and the day in the property's time zone as GA4 reports it
        {{ micros_to_utc_timestamp('event_timestamp') }} as event_at_utc,
        cast(date as date) as date_day,

        ----------  session attribution
        nullif(trim(session_source), '') as source,  -- noqa: RF04
        nullif(trim(session_medium), '') as medium,
        nullif(trim(session_campaign_name), '') as campaign_name,
        nullif(nullif(trim(cast(session_campaign_id as string)), ''), '(not set)') as campaign_id,

        ----------  money: a row can aggregate several identical events; the value of one of them
        cast(
            round(
                cast(coalesce(purchase_revenue, 0) as decimal(28, 2))
                / greatest(coalesce(ecommerce_purchases, 1), 1),
                2
            ) as decimal(18, 2)
        ) as purchase_value,
        cast(coalesce(ecommerce_purchases, 1) as bigint) as ecommerce_purchases,

        ----------  lineage
        _dlt_load_id

    from source

),

ranked as (

    -- GA4 can send one purchase several times: keep the earliest event per transaction id
    select
        *,
        row_number() over (
            partition by transaction_id
            order by event_at_utc asc nulls last, _dlt_load_id desc, source asc, medium asc, campaign_name asc
        ) as event_rank,
        sum(ecommerce_purchases) over (partition by transaction_id) as purchase_events

    from renamed

),

final as (

    select
        transaction_id,
        property_id,
        user_pseudo_id,

        event_at_utc,
        date_day,

        source,
        medium,
        campaign_name,
        campaign_id,

        purchase_value,
        -- purchase events GA4 sent for this transaction id (more than 1: duplicates were dropped)
        purchase_events,

        _dlt_load_id

    from ranked

    -- events without a transaction id cannot be de-duplicated: all are kept, the not_null test warns about them
    where event_rank = 1 or transaction_id is null

)

select * from final
