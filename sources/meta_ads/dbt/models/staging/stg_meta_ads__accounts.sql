with

source as (

    select * from {{ source('meta_ads', 'ad_accounts') }}

),

renamed as (

    -- explicit column list: fields that a later API version adds do not leak into Silver
    select
        ----------  ids
        -- the numeric id every other Meta table carries; derived from the `act_<id>` node id if missing
        coalesce(
            nullif(trim(cast(account_id as string)), ''),
            nullif(replace(trim(cast(id as string)), 'act_', ''), '')
        ) as account_id,
        nullif(trim(cast(id as string)), '') as account_node_id,

        ----------  attributes
        name as account_name,
        nullif(upper(trim(currency)), '') as currency,
        nullif(trim(timezone_name), '') as timezone_name,
        cast(account_status as bigint) as account_status,
        business_name,

        ----------  lineage
        _dlt_load_id

    from source

),

ranked as (

    -- the raw table is merged on id already; keep the latest load defensively anyway
    select
        *,
        row_number() over (partition by account_id order by _dlt_load_id desc) as version_rank

    from renamed

),

final as (

    select
        account_id,
        account_node_id,
        account_name,
        currency,
        timezone_name,
        account_status,
        business_name,
        _dlt_load_id

    from ranked

    -- rows without a key are kept (not collapsed into one) so the not_null test reports all of them
    where version_rank = 1 or account_id is null

)

select * from final
