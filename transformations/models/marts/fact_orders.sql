with

orders as (

    select * from {{ ref('stg_crm__orders') }}

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

final as (

    select
        order_id,
        contact_id,
        user_pseudo_id,
        transaction_id,

        ordered_at_utc,
        order_date_utc,
        order_date_local,

        amount,
        currency,
        amount_reporting,
        reporting_currency,

        items,
        campaign_id,
        channel,
        utm_source,
        utm_medium,
        is_repeat,
        payment_method,
        customer_order_number

    from numbered

)

select * from final
