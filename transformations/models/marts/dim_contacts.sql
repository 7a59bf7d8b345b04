with

contacts as (

    select * from {{ ref('int_contacts') }}

),

orders as (

    select * from {{ ref('fact_orders') }}

),

order_summary as (

    select
        contact_id,
        min(ordered_at_utc) as first_order_at_utc,
        max(ordered_at_utc) as last_order_at_utc,
        count(*) as order_count,
        sum(net_amount_reporting) as lifetime_revenue_reporting

    from orders

    where contact_id is not null

    group by contact_id

),

final as (

    select
        contacts.contact_id,
        contacts.email,
        contacts.country,
        contacts.phone,
        contacts.email_opt_in,
        contacts.created_at_utc,

        order_summary.first_order_at_utc,
        order_summary.last_order_at_utc,
        coalesce(order_summary.order_count, 0) as order_count,
        cast(coalesce(order_summary.lifetime_revenue_reporting, 0) as decimal(18, 2)) as lifetime_revenue_reporting

    from contacts

    left join order_summary
        on contacts.contact_id = order_summary.contact_id

)

select * from final
