-- CRM order and refund lines (latest version) for the shared `orders` interface
select
    order_id,
    line_kind,
    contact_id,
    user_pseudo_id,
    transaction_id,
    campaign_id,
    ordered_at_utc,
    order_date_utc,
    order_date_local,
    amount,
    currency,
    cast(fx_rate as decimal(38, 9)) as fx_rate,
    amount_reporting,
    reporting_currency,
    items,
    channel,
    utm_source,
    utm_medium,
    is_repeat,
    payment_method,
    _dlt_load_id

from {{ ref('stg_crm__orders') }}
