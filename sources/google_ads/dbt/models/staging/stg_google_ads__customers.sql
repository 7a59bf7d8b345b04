with

source as (

    select * from {{ source('google_ads', 'customers') }}

),

renamed as (

    select
        cast(customer_id as {{ dbt.type_string() }}) as account_id,
        descriptive_name as account_name,
        upper(trim(currency_code)) as currency,
        time_zone as timezone_name,
        manager as is_manager,
        status as account_status,
        _dlt_load_id

    from source

)

select * from renamed
