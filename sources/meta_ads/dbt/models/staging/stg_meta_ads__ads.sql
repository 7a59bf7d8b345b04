with

source as (

    select * from {{ source('meta_ads', 'ads') }}

),

renamed as (

    -- explicit column list: fields that a later API version adds do not leak into Silver
    select
        ----------  ids
        nullif(trim(cast(id as string)), '') as ad_id,
        nullif(trim(cast(adset_id as string)), '') as adset_id,
        nullif(trim(cast(campaign_id as string)), '') as campaign_id,
        nullif(trim(cast(account_id as string)), '') as account_id,
        nullif(trim(cast(creative_id as string)), '') as creative_id,

        ----------  attributes
        name as ad_name,
        nullif(upper(trim(status)), '') as status,
        nullif(upper(trim(effective_status)), '') as effective_status,

        ----------  timestamps
        {{ to_utc_timestamp('created_time', 'UTC') }} as created_at_utc,
        {{ to_utc_timestamp('updated_time', 'UTC') }} as updated_at_utc,

        ----------  lineage
        _dlt_load_id

    from source

),

ranked as (

    -- the raw table is merged on id already; keep the latest version defensively anyway
    select
        *,
        row_number() over (
            partition by ad_id order by _dlt_load_id desc, updated_at_utc desc
        ) as version_rank

    from renamed

),

final as (

    select
        ad_id,
        adset_id,
        campaign_id,
        account_id,
        creative_id,

        ad_name,
        status,
        effective_status,

        created_at_utc,
        updated_at_utc,

        _dlt_load_id

    from ranked

    -- rows without a key are kept (not collapsed into one) so the not_null test reports all of them
    where version_rank = 1 or ad_id is null

)

select * from final
