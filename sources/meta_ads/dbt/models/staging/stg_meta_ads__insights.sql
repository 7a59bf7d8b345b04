with

source as (

    select * from {{ source('meta_ads', 'insights') }}

),

renamed as (

    -- explicit column list: fields that a later API version adds do not leak into Silver
    select
        ----------  ids
        nullif(trim(cast(account_id as string)), '') as account_id,
        nullif(trim(cast(campaign_id as string)), '') as campaign_id,
        nullif(trim(cast(adset_id as string)), '') as adset_id,
        nullif(trim(cast(ad_id as string)), '') as ad_id,
        nullif(lower(trim(level)), '') as insights_level,

        ----------  dates (the account's time zone, as Ads Manager reports them)
        cast(date_start as date) as date_day,

        ----------  names as of the fetch
        campaign_name,
        adset_name,
        ad_name,
        nullif(upper(trim(objective)), '') as objective,

        ----------  additive metrics (fields are missing on rows without activity: 0)
        -- money as the API sends it: decimal(38, 9) is BigQuery's NUMERIC, never rounded here
        cast(coalesce(spend, 0) as decimal(38, 9)) as spend,
        nullif(upper(trim(account_currency)), '') as currency,
        cast(coalesce(impressions, 0) as bigint) as impressions,
        cast(coalesce(clicks, 0) as bigint) as clicks,
        cast(coalesce(inline_link_clicks, 0) as bigint) as inline_link_clicks,
        -- people reached by this ad on this day: not additive across ads or days
        cast(coalesce(reach, 0) as bigint) as reach,

        ----------  ratios computed by the API for this row only: never sum or average them
        frequency as frequency_api,
        cpm as cpm_api,
        cpc as cpc_api,
        ctr as ctr_api,

        ----------  lineage
        attribution_setting,
        _fetched_at,
        _dlt_load_id

    from source

),

ranked as (

    -- the raw table is merged on account, level, object and day already; keep the latest fetch anyway
    select
        *,
        row_number() over (
            partition by account_id, insights_level, ad_id, date_day
            order by _fetched_at desc, _dlt_load_id desc
        ) as version_rank

    from renamed

),

final as (

    select
        account_id,
        campaign_id,
        adset_id,
        ad_id,
        date_day,
        insights_level,

        campaign_name,
        adset_name,
        ad_name,
        objective,

        spend,
        currency,
        impressions,
        clicks,
        inline_link_clicks,
        reach,

        frequency_api,
        cpm_api,
        cpc_api,
        ctr_api,

        attribution_setting,
        _fetched_at,
        _dlt_load_id

    from ranked

    -- rows without an ad are kept (not collapsed into one) so the not_null test reports all of them
    where version_rank = 1 or ad_id is null

)

select * from final
