with

ad_days as (

    select * from {{ ref('fct_ad_performance_daily') }}

),

orders as (

    select * from {{ ref('fact_orders') }}

),

campaigns as (

    select * from {{ ref('dim_campaign') }}

),

spend as (

    select
        ad_days.date_day,
        coalesce(campaigns.channel, ad_days.platform) as channel,
        ad_days.campaign_id,
        sum(ad_days.spend_reporting) as spend,
        sum(ad_days.impressions) as impressions,
        sum(ad_days.clicks) as clicks,
        sum(ad_days.conversions) as conversions,
        sum(ad_days.conversion_value_reporting) as conversion_value

    from ad_days

    left join campaigns
        on ad_days.campaign_id = campaigns.campaign_id

    group by ad_days.date_day, coalesce(campaigns.channel, ad_days.platform), ad_days.campaign_id

),

attributed as (

    -- orders by the channel and campaign attribution gave them
    select
        order_date_utc as date_day,
        attributed_channel as channel,
        attributed_campaign_id as campaign_id,
        count(*) as attributed_orders,
        sum(net_amount_reporting) as attributed_revenue,
        sum(case when customer_order_number = 1 then 1 else 0 end) as new_customers

    from orders

    group by order_date_utc, attributed_channel, attributed_campaign_id

),

joined as (

    select
        coalesce(spend.date_day, attributed.date_day) as date_day,
        coalesce(spend.channel, attributed.channel) as channel,
        coalesce(spend.campaign_id, attributed.campaign_id) as campaign_id,
        coalesce(spend.spend, 0) as spend,
        coalesce(spend.impressions, 0) as impressions,
        coalesce(spend.clicks, 0) as clicks,
        coalesce(spend.conversions, 0) as conversions,
        coalesce(spend.conversion_value, 0) as conversion_value,
        coalesce(attributed.attributed_orders, 0) as attributed_orders,
        coalesce(attributed.attributed_revenue, 0) as attributed_revenue,
        coalesce(attributed.new_customers, 0) as new_customers

    from spend

    full outer join attributed
        on
            spend.date_day = attributed.date_day
            and spend.channel = attributed.channel
            and spend.campaign_id = attributed.campaign_id

),

final as (

    -- additive measures only: ratios (CTR, CPC, ROAS, CAC) come from var `kpis` at the grain shown
    select
        joined.date_day,
        joined.channel,
        joined.campaign_id,
        campaigns.campaign_name,
        coalesce(campaigns.platform, joined.channel) as platform,
        coalesce(campaigns.has_spend_data, false) as has_spend_data,

        cast(joined.spend as decimal(18, 2)) as spend,
        joined.impressions,
        joined.clicks,
        cast(joined.conversions as decimal(18, 4)) as conversions,
        cast(joined.conversion_value as decimal(18, 2)) as conversion_value,
        joined.attributed_orders,
        cast(joined.attributed_revenue as decimal(18, 2)) as attributed_revenue,
        joined.new_customers

    from joined

    left join campaigns
        on joined.campaign_id = campaigns.campaign_id

)

select * from final
