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

        {{ to_utc_timestamp('created_at', var('crm_default_timezone', 'UTC')) }} as created_at,

        _columns_absent,
        _source_file,
        _source_line,
        _source_modified_at,
        _bronze_load_id,
        _dlt_load_id,
        -- rows without a key are kept one by one (not merged into one) so the not_null test reports all of them
        {{ crm_keyless_version('contact_id') }} as _keyless_version

    from source

),

ranked as (

    select
        *,
        {{ crm_version_rank('contact_id, _keyless_version') }} as version_rank

    from renamed

),

final as (

    -- one row per contact: the latest version's values; a column that later files did not carry keeps the
    -- value of the latest file that did
    select
        contact_id,
        {{ crm_latest_delivered('email') }} as email,
        {{ crm_latest_delivered('country') }} as country,
        {{ crm_latest_delivered('phone') }} as phone,
        {{ crm_latest_delivered('email_opt_in') }} as email_opt_in,
        {{ crm_latest_delivered('created_at') }} as created_at_utc,

        {{ crm_latest_lineage() }}

    from ranked

    group by contact_id, _keyless_version

)

select * from final
