{#-
    One attribution window (var `meta_attribution_window`) of the unnested actions. Conversions count only
    the action types in var `meta_conversion_action_types`: Meta reports one purchase under several
    overlapping types (purchase, omni_purchase, offsite_conversion.fb_pixel_purchase), so summing all of them
    would count it several times.
-#}
{%- set conversion_action_types = var('meta_conversion_action_types') -%}
{%- if conversion_action_types is string -%}
    {%- set conversion_action_types = [conversion_action_types] -%}
{%- endif -%}

with

source as (

    select * from {{ source('meta_ads', 'insights_actions') }}

),

renamed as (

    -- explicit column list: fields that a later source version adds do not leak into Silver
    select
        ----------  ids
        nullif(trim(cast(account_id as string)), '') as account_id,
        nullif(trim(cast(ad_id as string)), '') as ad_id,
        cast(date_start as date) as date_day,
        nullif(lower(trim(level)), '') as insights_level,

        ----------  attributes
        nullif(lower(trim(action_kind)), '') as action_kind,
        nullif(trim(action_type), '') as action_type,
        nullif(lower(trim(attribution_window)), '') as attribution_window,

        ----------  value: a count (actions) or an amount in the account currency (action_values), as sent
        -- ("63.416842"): decimal(38, 9) is BigQuery's NUMERIC
        cast(value as decimal(38, 9)) as action_value,

        ----------  lineage
        _dlt_load_id

    from source

),

windowed as (

    select
        *,
        row_number() over (
            partition by account_id, insights_level, ad_id, date_day, action_kind, action_type
            order by _dlt_load_id desc
        ) as version_rank

    from renamed

    where attribution_window = '{{ var("meta_attribution_window") }}'

),

flagged as (

    select
        *,
        coalesce(action_type in ('{{ conversion_action_types | join("', '") }}'), false) as is_conversion

    from windowed

    -- rows without an ad are kept (not collapsed into one) so the not_null test reports all of them
    where version_rank = 1 or ad_id is null

),

final as (

    select
        account_id,
        ad_id,
        date_day,
        insights_level,

        action_kind,
        action_type,
        attribution_window,
        action_value,

        is_conversion,
        cast(
            case when is_conversion and action_kind = 'actions' then action_value else 0 end as decimal(38, 9)
        ) as conversions,
        cast(
            case when is_conversion and action_kind = 'action_values' then action_value else 0 end as decimal(38, 9)
        ) as conversion_value,

        _dlt_load_id

    from flagged

)

select * from final
