{%- set currencies_without_minor_units = var('meta_currencies_without_minor_units') -%}
{%- if currencies_without_minor_units is string -%}
    {%- set currencies_without_minor_units = [currencies_without_minor_units] -%}
{%- endif -%}

with

source as (

    select * from {{ source('meta_ads', 'adsets') }}

),

accounts as (

    select * from {{ ref('stg_meta_ads__accounts') }}

),

renamed as (

    -- explicit column list: fields that a later API version adds do not leak into Silver
    select
        ----------  ids
        nullif(trim(cast(id as string)), '') as adset_id,
        nullif(trim(cast(campaign_id as string)), '') as campaign_id,
        nullif(trim(cast(account_id as string)), '') as account_id,

        ----------  attributes
        name as adset_name,
        nullif(upper(trim(status)), '') as status,
        nullif(upper(trim(effective_status)), '') as effective_status,
        nullif(upper(trim(optimization_goal)), '') as optimization_goal,
        nullif(upper(trim(billing_event)), '') as billing_event,
        targeting,

        ----------  money (minor units of the account currency, as sent)
        cast(nullif(trim(cast(daily_budget as string)), '') as decimal(18, 0)) as daily_budget_minor,

        ----------  timestamps (the API always sends an offset; UTC is only the fallback)
        {{ to_utc_timestamp('start_time', 'UTC') }} as started_at_utc,
        {{ to_utc_timestamp('end_time', 'UTC') }} as ended_at_utc,
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
            partition by adset_id order by _dlt_load_id desc, updated_at_utc desc
        ) as version_rank

    from renamed

),

deduplicated as (

    select * from ranked

    -- rows without a key are kept (not collapsed into one) so the not_null test reports all of them
    where version_rank = 1 or adset_id is null

),

converted as (

    -- budgets in minor units, as for campaigns (see stg_meta_ads__campaigns)
    select
        deduplicated.*,
        accounts.currency,
        cast(
            case
                when accounts.currency is null then null
                when accounts.currency in ('{{ currencies_without_minor_units | map("upper") | join("', '") }}') then 1
                else 0.01
            end as decimal(18, 2)
        ) as minor_unit

    from deduplicated

    left join accounts
        on deduplicated.account_id = accounts.account_id

),

final as (

    select
        adset_id,
        campaign_id,
        account_id,

        adset_name,
        status,
        effective_status,
        optimization_goal,
        billing_event,

        started_at_utc,
        ended_at_utc,
        created_at_utc,
        updated_at_utc,

        cast(daily_budget_minor * minor_unit as decimal(18, 2)) as daily_budget,
        currency,

        targeting,

        _dlt_load_id

    from converted

)

select * from final
