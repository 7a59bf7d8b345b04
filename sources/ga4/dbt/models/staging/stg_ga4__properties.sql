with

report_metadata as (

    select * from {{ source('ga4', 'report_metadata') }}

),

renamed as (

    select
        nullif(trim(cast(property_id as string)), '') as property_id,
        nullif(trim(time_zone), '') as time_zone,
        nullif(upper(trim(currency_code)), '') as currency,
        requested_at,
        _dlt_load_id

    from report_metadata

),

ranked as (

    -- the latest response tells the property's current settings
    select
        *,
        row_number() over (
            partition by property_id
            order by requested_at desc nulls last, _dlt_load_id desc
        ) as response_rank

    from renamed

    where property_id is not null

),

final as (

    select
        property_id,
        time_zone,
        currency,
        requested_at as last_requested_at

    from ranked

    where response_rank = 1

)

select * from final
