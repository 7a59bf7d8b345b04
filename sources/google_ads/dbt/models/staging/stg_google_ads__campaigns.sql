with

source as (

    select * from {{ source('google_ads', 'campaigns') }}

),

customers as (

    select * from {{ ref('stg_google_ads__customers') }}

),

renamed as (

    -- start/end times are in the account's time zone (`yyyy-MM-dd HH:mm:ss`): to UTC with each account's zone
    select
        cast(source.campaign_id as {{ dbt.type_string() }}) as campaign_id,
        cast(source.customer_id as {{ dbt.type_string() }}) as account_id,
        source.name as campaign_name,
        upper(source.status) as status,
        upper(source.advertising_channel_type) as channel_type,
        {{ to_utc_timestamp('source.start_date_time', 'UTC', tz_column='customers.timezone_name') }} as started_at_utc,
        {{ to_utc_timestamp('source.end_date_time', 'UTC', tz_column='customers.timezone_name') }} as stopped_at_utc,
        cast(source.budget_amount as decimal(18, 2)) as daily_budget,
        customers.currency,
        source._dlt_load_id

    from source

    left join customers
        on cast(source.customer_id as {{ dbt.type_string() }}) = customers.account_id

)

select * from renamed
