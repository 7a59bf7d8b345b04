{{ config(**day_incremental_config('order_date_utc')) }}

with

orders as (

    select
        *,
        {{ load_epoch('_dlt_load_id') }} as _load_epoch

    from {{ ref('stg_crm__orders') }}

),

attribution as (

    select * from {{ ref('int_orders__attributed') }}

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
