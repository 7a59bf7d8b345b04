with

source as (

    select * from {{ source('google_ads', 'ads') }}

),

renamed as (

    select
        cast(ad_id as {{ dbt.type_string() }}) as ad_id,
        cast(ad_group_id as {{ dbt.type_string() }}) as ad_group_id,
        cast(campaign_id as {{ dbt.type_string() }}) as campaign_id,
        cast(customer_id as {{ dbt.type_string() }}) as account_id,
        name as ad_name,
        upper(status) as status,
        upper(type) as ad_type,
        _dlt_load_id

    from source

)

select * from renamed
