with

source as (

    select * from {{ source('google_ads', 'campaign_stats_daily') }}

),

renamed as (

    -- cost in the account currency (converted from micros by the connector, exact); conversions as reported,
    -- by the account's conversion settings (fractional with data-driven attribution)
    select
        cast(customer_id as {{ dbt.type_string() }}) as account_id,
        cast(campaign_id as {{ dbt.type_string() }}) as campaign_id,
        cast(date as date) as date_day,
        upper(trim(currency_code)) as currency,
        cast(coalesce(cost, 0) as decimal(38, 9)) as spend,
        cast(coalesce(cost_micros, 0) as {{ dbt.type_bigint() }}) as cost_micros,
        cast(coalesce(impressions, 0) as {{ dbt.type_bigint() }}) as impressions,
        cast(coalesce(clicks, 0) as {{ dbt.type_bigint() }}) as clicks,
        cast(coalesce(conversions, 0) as decimal(38, 9)) as conversions,
        cast(coalesce(conversions_value, 0) as decimal(38, 9)) as conversion_value,
        cast(coalesce(all_conversions, 0) as decimal(38, 9)) as all_conversions,
        _fetched_at,
        _dlt_load_id

    from source

)

select * from renamed
