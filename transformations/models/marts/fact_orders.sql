{{ config(**day_incremental_config('order_date_utc')) }}

with

order_lines as (

    select * from {{ ref('int_order_lines') }}

),

attribution as (

    select * from {{ ref('int_orders__attributed') }}

),

refunds as (

    -- the refund line of an order (Silver keeps one per order: its latest version), as a positive amount
    select
        order_id,
        currency as refund_currency,
        -amount as refund_amount,
        -amount_reporting as refund_amount_reporting,
        {{ load_epoch('_dlt_load_id') }} as refund_load_epoch

    from order_lines

    where line_kind = 'refund'

),

orders as (

    -- one row per order, with its refund; a refund without an order line is in audit_crm_orphan_refunds.
    -- The refund counts in its order's currency (converted through the reporting currency when the CRM sent
    -- it in another one) and, in the reporting currency, at the rate of its own line's month
    select
        order_lines.*,
        refunds.order_id is not null as has_refund,
        cast(
            case
                when refunds.order_id is null then 0
                when refunds.refund_currency = order_lines.currency then refunds.refund_amount
                else round(refunds.refund_amount_reporting / order_lines.fx_rate, 2)
            end as decimal(18, 2)
        ) as refund_amount,
        cast(
            case when refunds.order_id is null then 0 else refunds.refund_amount_reporting end as decimal(18, 2)
        ) as refund_amount_reporting,
        -- the latest load that touched the order or its refund: a late refund rebuilds its order's day
        greatest(
            {{ load_epoch('order_lines._dlt_load_id') }},
            coalesce(refunds.refund_load_epoch, {{ load_epoch('order_lines._dlt_load_id') }})
        ) as _load_epoch

    from order_lines

    left join refunds
        on order_lines.order_id = refunds.order_id

    where order_lines.line_kind = 'order'

),

numbered as (

    select
        *,
        case
            when contact_id is not null
                then row_number() over (partition by contact_id order by ordered_at_utc, order_id)
        end as customer_order_number

    from orders

),

changed as (

    -- orders loaded since the lookback point; a changed order can renumber its contact's later orders
    select
        order_id,
        contact_id
    from orders
    where {{ changed_since_lookback('_load_epoch') }}

),

changed_days as (

    select distinct numbered.order_date_utc

    from numbered

    where
        numbered.order_id in (select changed.order_id from changed)
        or numbered.contact_id in (
            select changed.contact_id from changed
            where changed.contact_id is not null
        )

),

final as (

    select
        numbered.order_id,
        numbered.contact_id,
        numbered.user_pseudo_id,
        numbered.transaction_id,

        numbered.ordered_at_utc,
        numbered.order_date_utc,
        numbered.order_date_local,

        numbered.amount,
        numbered.currency,
        numbered.amount_reporting,
        numbered.reporting_currency,
        numbered.has_refund,
        numbered.refund_amount,
        numbered.refund_amount_reporting,
        cast(numbered.amount - numbered.refund_amount as decimal(18, 2)) as net_amount,
        cast(numbered.amount_reporting - numbered.refund_amount_reporting as decimal(18, 2)) as net_amount_reporting,

        numbered.items,
        numbered.campaign_id,
        numbered.channel,
        numbered.utm_source,
        numbered.utm_medium,
        numbered.is_repeat,
        numbered.payment_method,
        numbered.customer_order_number,
        coalesce(numbered.customer_order_number > 1, false) as is_returning_customer,

        attribution.attribution_method,
        attribution.attributed_source,
        attribution.attributed_medium,
        attribution.attributed_campaign_id,
        attribution.attributed_campaign_name,
        attribution.attributed_channel,
        attribution.campaign_match,
        attribution.is_linked_to_ga4,

        numbered._load_epoch

    from numbered

    left join attribution
        on numbered.order_id = attribution.order_id

    where numbered.order_date_utc in (select changed_days.order_date_utc from changed_days)

)

select * from final
