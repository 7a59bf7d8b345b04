with

acquisition as (

    select * from {{ ref('mart_acquisition_daily') }}

),

final as (

    -- one row per campaign (and channel) over all days; every KPI from var `kpis`, computed at this grain
    select
        campaign_id,
        campaign_name,
        channel,
        platform,
        has_spend_data,
        min(date_day) as first_date,
        max(date_day) as last_date,

        {{ kpi('ad_spend') }} as ad_spend,
        {{ kpi('impressions') }} as impressions,
        {{ kpi('clicks') }} as clicks,
        {{ kpi('ctr') }} as ctr,
        {{ kpi('cpc') }} as cpc,
        {{ kpi('conversions') }} as conversions,
        {{ kpi('cost_per_conversion') }} as cost_per_conversion,
        {{ kpi('platform_roas') }} as platform_roas,
        {{ kpi('attributed_revenue') }} as attributed_revenue,
        {{ kpi('attributed_roas') }} as attributed_roas,
        {{ kpi('new_customers') }} as new_customers,
        {{ kpi('cac') }} as cac

    from acquisition

    group by campaign_id, campaign_name, channel, platform, has_spend_data

)

select * from final
