with

source as (

    select * from {{ source('crm', 'contacts') }}

),

renamed as (

    -- explicit column list: columns that later export files add do not leak into Silver
    select
        nullif(trim(cast(contact_id as string)), '') as contact_id,

        nullif(lower(trim(email)), '') as email,
        nullif(upper(trim(country)), '') as country,
        nullif(trim(phone), '') as phone,
        cast(email_opt_in as boolean) as email_opt_in,

        {{ to_utc_timestamp('created_at', var('crm_default_timezone', 'UTC')) }} as created_at_utc,

        _source_file,
        _source_line,
        _source_modified_at,
        _dlt_load_id

    from source

),

ranked as (

    -- the raw table is merged on contact_id already; keep the latest version defensively anyway
    select
        *,
        {{ crm_version_rank('contact_id') }} as version_rank

    from renamed

),

final as (

    select
        contact_id,
        email,
        country,
        phone,
        email_opt_in,
        created_at_utc,

        _source_file,
        _source_line,
        _source_modified_at,
        _dlt_load_id

    from ranked

    -- rows without a key are kept (not collapsed into one) so the not_null test reports all of them
    where version_rank = 1 or contact_id is null

)

select * from final
