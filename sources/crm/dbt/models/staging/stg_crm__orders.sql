{%- set reporting_currency = var('reporting_currency', 'EUR') | upper -%}

with

source as (

    select * from {{ source('crm', 'orders') }}

),

fx_rates as (

    select * from {{ ref('stg_fx_rates') }}

),

renamed as (

    -- explicit column list: columns that later export files add do not leak into Silver; optional columns keep
    -- their raw names until the latest delivered value is chosen (crm_latest_delivered checks them by name)
    select
        ----------  ids
        nullif(trim(cast(order_id as string)), '') as order_id,
        nullif(lower(trim(line_kind)), '') as line_kind,
        nullif(trim(cast(contact_id as string)), '') as contact_id,
        nullif(trim(cast(user_pseudo_id as string)), '') as user_pseudo_id,
        nullif(trim(cast(transaction_id as string)), '') as transaction_id,
        nullif(trim(cast(campaign_id as string)), '') as campaign_id,

        ----------  timestamps
        {{ to_utc_timestamp('order_ts', var('crm_default_timezone', 'UTC')) }} as ordered_at_utc,
        cast(order_date as date) as order_date,

        ----------  money (refund lines carry a negative amount)
        cast(amount as decimal(18, 2)) as amount,
        nullif(upper(trim(currency)), '') as currency,

        ----------  attributes
        cast(items as bigint) as items,
        nullif(lower(trim(channel)), '') as channel,
        nullif(lower(trim(utm_source)), '') as utm_source,
        nullif(lower(trim(utm_medium)), '') as utm_medium,
        cast(is_repeat as boolean) as is_repeat,
        nullif(lower(trim(payment_method)), '') as payment_method,

        ----------  versions and lineage
        _columns_absent,
        _source_file,
        _source_line,
        _source_modified_at,
        _bronze_load_id,
        _dlt_load_id,
        -- rows without a key are kept one by one (not merged into one) so the not_null test reports all of them
        {{ crm_keyless_version('order_id') }} as _keyless_version

    from source

),

ranked as (

    select
        *,
        {{ crm_version_rank('order_id, line_kind, _keyless_version') }} as version_rank

    from renamed

),

latest as (

    -- one row per order line (order_id x line_kind): the latest version's values; a column that later files did
    -- not carry keeps the value of the latest file that did (order_ts, amount and currency are always carried)
    select
        order_id,
        line_kind,
        {{ crm_latest_delivered('contact_id') }} as contact_id,
        {{ crm_latest_delivered('user_pseudo_id') }} as user_pseudo_id,
        {{ crm_latest_delivered('transaction_id') }} as transaction_id,
        {{ crm_latest_delivered('campaign_id') }} as campaign_id,

        {{ crm_latest('ordered_at_utc') }} as ordered_at_utc,
        {{ crm_latest_delivered('order_date') }} as order_date_local,

        {{ crm_latest('amount') }} as amount,
        {{ crm_latest('currency') }} as currency,

        {{ crm_latest_delivered('items') }} as items,
        {{ crm_latest_delivered('channel') }} as channel,
        {{ crm_latest_delivered('utm_source') }} as utm_source,
        {{ crm_latest_delivered('utm_medium') }} as utm_medium,
        {{ crm_latest_delivered('is_repeat') }} as is_repeat,
        {{ crm_latest_delivered('payment_method') }} as payment_method,

        {{ crm_latest_lineage() }}

    from ranked

    group by order_id, line_kind, _keyless_version

),

converted as (

    -- rate of the month of the line's UTC date; the reporting currency itself is always 1
    select
        latest.*,
        cast(latest.ordered_at_utc as date) as order_date_utc,
        {{ reporting_fx_rate('latest.currency', 'fx_rates.rate_to_reporting') }} as fx_rate

    from latest

    left join fx_rates
        on
            latest.currency = fx_rates.currency
            and cast(latest.ordered_at_utc as date) >= fx_rates.valid_from
            and cast(latest.ordered_at_utc as date) < fx_rates.valid_to

),

final as (

    select
        order_id,
        line_kind,
        line_kind = 'refund' as is_refund,
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

        _versions,
        _source_file,
        _source_line,
        _source_modified_at,
        _dlt_load_id

    from converted

)

select * from final
