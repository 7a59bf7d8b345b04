with

orders as (

    select * from {{ ref('mart_orders') }}

),

acquisition as (

    select * from {{ ref('mart_acquisition_daily') }}

),

order_months as (

    select
        order_month as month_start,
        {{ kpi('orders') }} as orders,
        {{ kpi('revenue') }} as revenue,
        {{ kpi('gross_revenue') }} as gross_revenue,
        {{ kpi('refunds') }} as refunds,
        {{ kpi('aov') }} as aov,
        {{ kpi('customers') }} as customers,
        {{ kpi('repeat_purchase_rate') }} as repeat_purchase_rate,
        {{ kpi('orders_per_customer') }} as orders_per_customer,
        {{ kpi('new_customer_revenue') }} as new_customer_revenue,
        {{ kpi('repeat_customer_revenue') }} as repeat_customer_revenue

    from orders

    group by order_month

),

ad_months as (

    select
        cast({{ dbt.date_trunc('month', 'date_day') }} as date) as month_start,
        {{ kpi('ad_spend') }} as ad_spend,
        {{ kpi('ctr') }} as ctr,
        {{ kpi('cpc') }} as cpc,
        {{ kpi('cost_per_conversion') }} as cost_per_conversion,
        {{ kpi('platform_roas') }} as platform_roas,
        {{ kpi('attributed_roas') }} as attributed_roas,
        {{ kpi('cac') }} as cac

    from acquisition

    group by cast({{ dbt.date_trunc('month', 'date_day') }} as date)

),

final as (

    -- one row per calendar month (UTC): the executive KPIs, each from var `kpis` at month grain
    select
        coalesce(order_months.month_start, ad_months.month_start) as month_start,
        coalesce(order_months.orders, 0) as orders,
        coalesce(order_months.revenue, 0) as revenue,
        coalesce(order_months.gross_revenue, 0) as gross_revenue,
        coalesce(order_months.refunds, 0) as refunds,
        order_months.aov,
        coalesce(order_months.customers, 0) as customers,
        order_months.repeat_purchase_rate,
        order_months.orders_per_customer,
        coalesce(order_months.new_customer_revenue, 0) as new_customer_revenue,
        coalesce(order_months.repeat_customer_revenue, 0) as repeat_customer_revenue,
        coalesce(ad_months.ad_spend, 0) as ad_spend,
        ad_months.ctr,
        ad_months.cpc,
        ad_months.cost_per_conversion,
        ad_months.platform_roas,
        ad_months.attributed_roas,
        ad_months.cac

    from order_months

    full outer join ad_months
        on order_months.month_start = ad_months.month_start

)

select * from final
