{{ config(tags=['critical']) }}

-- Google Ads spend is the same from raw_google_ads through the plugin's fact and fct_ad_performance_daily into the
-- reporting marts, in account and reporting currency (audit_google_ads_spend_reconciliation)
select
    layer,
    spend,
    spend_reporting,
    raw_spend,
    converted_spend_reporting

from {{ ref('audit_google_ads_spend_reconciliation') }}

where not matches_upstream
