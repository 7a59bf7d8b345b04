with

source as (

    select * from {{ source('meta_ads', 'ad_creatives') }}

),

renamed as (

    -- explicit column list: fields that a later API version adds do not leak into Silver
    select
        ----------  ids
        nullif(trim(cast(id as string)), '') as creative_id,
        nullif(trim(cast(account_id as string)), '') as account_id,

        ----------  attributes
        name as creative_name,
        title,
        body,
        nullif(upper(trim(object_type)), '') as object_type,
        nullif(upper(trim(call_to_action_type)), '') as call_to_action_type,
        nullif(upper(trim(status)), '') as status,
        nullif(trim(image_url), '') as image_url,
        nullif(trim(url_tags), '') as url_tags,

        ----------  lineage
        _dlt_load_id

    from source

),

ranked as (

    -- the raw table is merged on id already; keep the latest load defensively anyway
    select
        *,
        row_number() over (partition by creative_id order by _dlt_load_id desc) as version_rank

    from renamed

),

deduplicated as (

    select * from ranked

    -- rows without a key are kept (not collapsed into one) so the not_null test reports all of them
    where version_rank = 1 or creative_id is null

),

utm_parsed as (

    -- UTM parameters of the landing page, trimmed and lower case like the CRM's; values are not
    -- URL-decoded, and Meta's dynamic URL parameters (campaign name macros) stay as written.
    -- The third argument of regexp_extract is the capture group on DuckDB and the start position on
    -- BigQuery (which returns the only group): 1 means the same on both.
    select
        *,
        nullif(lower(trim(regexp_extract(url_tags, '(?:^|[?&])utm_source=([^&#]*)', 1))), '') as utm_source,
        nullif(lower(trim(regexp_extract(url_tags, '(?:^|[?&])utm_medium=([^&#]*)', 1))), '') as utm_medium,
        nullif(lower(trim(regexp_extract(url_tags, '(?:^|[?&])utm_campaign=([^&#]*)', 1))), '') as utm_campaign

    from deduplicated

),

final as (

    select
        creative_id,
        account_id,

        creative_name,
        title,
        body,
        object_type,
        call_to_action_type,
        status,
        image_url,

        url_tags,
        utm_source,
        utm_medium,
        utm_campaign,

        _dlt_load_id

    from utm_parsed

)

select * from final
