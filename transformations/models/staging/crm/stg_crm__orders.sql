{%- set reporting_currency = var('reporting_currency', 'EUR') | upper -%}

with

source as (

    select * from {{ source('crm', 'orders') }}

),

fx_rates as (

    select * from {{ ref('stg_fx_rates') }}

),

renamed as (

    -- explicit column list: columns that later export files add do not leak into Silver
    select
        ----------  ids
        nullif(trim(cast(order_id as string)), '') as order_id,
        nullif(trim(cast(contact_id as string)), '') as contact_id,
        nullif(trim(cast(user_pseudo_id as string)), '') as user_pseudo_id,
        nullif(trim(cast(transaction_id as string)), '') as transaction_id,
        nullif(trim(cast(campaign_id as string)), '') as campaign_id,

        ----------  timestamps
        {{ to_utc_timestamp('order_ts', var('crm_default_timezone', 'UTC')) }} as ordered_at_utc,
        cast(order_date as date) as order_date_local,

        ----------  money
        cast(amount as decimal(18, 2)) as amount,
        nullif(upper(trim(currency)), '') as currency,

        ----------  attributes
        cast(items as bigint) as items,
        nullif(lower(trim(channel)), '') as channel,
        nullif(lower(trim(utm_source)), '') as utm_source,
        nullif(lower(trim(utm_medium)), '') as utm_medium,
        cast(is_repeat as boolean) as is_repeat,
        nullif(lower(trim(payment_method)), '') as payment_method,

        ----------  lineage
        _source_file,
        _source_line,
        _source_modified_at,
        _dlt_load_id

    from source

),

ranked as (

    -- the raw table is merged on order_id already; keep the latest version defensively anyway
    select
        *,
        {{ crm_version_rank('order_id') }} as version_rank

    from renamed

),

deduplicated as (

    select * from ranked

    -- rows without a key are kept (not collapsed into one) so the not_null test reports all of them
    where version_rank = 1 or order_id is null

),

converted as (

    -- rate of the month of the order's UTC date; the reporting currency itself is always 1
    select
        deduplicated.*,
        cast(deduplicated.ordered_at_utc as date) as order_date_utc,
        {{ reporting_fx_rate('deduplicated.currency', 'fx_rates.rate_to_reporting') }} as fx_rate

    from deduplicated

    left join fx_rates
        on
            deduplicated.currency = fx_rates.currency
            and cast(deduplicated.ordered_at_utc as date) >= fx_rates.valid_from
            and cast(deduplicated.ordered_at_utc as date) < fx_rates.valid_to

),

final as (

    select
        order_id,
        contact_id,
        user_pseudo_id,
        transaction_id,
        campaign_id,

        ordered_at_utc,
        order_date_utc,
        order_date_local,

        amount,
        currency,
        fx_rate,
        {{ to_reporting('amount', 'fx_rate') }} as amount_reporting,
        '{{ reporting_currency }}' as reporting_currency,

        items,
        channel,
        utm_source,
        utm_medium,
        is_repeat,
        payment_method,

        _source_file,
        _source_line,
        _source_modified_at,
        _dlt_load_id

    from converted

)

select * from final
