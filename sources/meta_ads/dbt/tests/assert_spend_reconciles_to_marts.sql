{{ config(tags=['critical']) }}

-- Meta spend is the same from Silver through dim_meta_ads and fct_ad_performance_daily into the reporting
-- marts, in account and reporting currency (audit_spend_reconciliation)
select
    layer,
    spend,
    spend_reporting,
    staged_spend,
    converted_spend_reporting

from {{ ref('audit_spend_reconciliation') }}

where not matches_upstream
