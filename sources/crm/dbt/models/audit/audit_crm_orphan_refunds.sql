{{ config(materialized='view') }}

-- refund lines whose order line never arrived. Revenue cannot net them (no order date, customer or campaign to
-- take them from), so they stay out of revenue until their order line arrives - then fact_orders nets them on the
-- order's day; until then they are listed here and reported by a warning test
with

order_lines as (

    select * from {{ ref('stg_crm__orders') }}

),

orders as (

    select order_id

    from order_lines

    where line_kind = 'order'

),

refunds as (

    select * from order_lines

    where line_kind = 'refund'

),

final as (

    select
        refunds.order_id,
        refunds.ordered_at_utc,
        refunds.order_date_utc,
        cast(-refunds.amount as decimal(18, 2)) as refund_amount,
        refunds.currency,
        cast(-refunds.amount_reporting as decimal(18, 2)) as refund_amount_reporting,
        refunds.reporting_currency,
        refunds._source_file,
        refunds._source_line,
        refunds._source_modified_at,
        refunds._dlt_load_id

    from refunds

    left join orders
        on refunds.order_id = orders.order_id

    where orders.order_id is null

)

select * from final
