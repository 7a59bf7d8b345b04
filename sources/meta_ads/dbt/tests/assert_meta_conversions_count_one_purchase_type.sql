{{ config(tags=['critical']) }}

-- var `meta_conversion_action_types` must not list several purchase types that report the same purchases:
-- an ad-day where more than one of them counts as a conversion double counts
select
    account_id,
    ad_id,
    date_day,
    action_kind,
    count(distinct action_type) as overlapping_types

from {{ ref('stg_meta_ads__insight_actions') }}

where
    is_conversion
    and action_type in (
        'purchase',
        'omni_purchase',
        'offsite_conversion.fb_pixel_purchase',
        'onsite_web_purchase',
        'onsite_web_app_purchase',
        'web_in_store_purchase',
        'onsite_conversion.purchase',
        'app_custom_event.fb_mobile_purchase'
    )

group by account_id, ad_id, date_day, action_kind

having count(distinct action_type) > 1
