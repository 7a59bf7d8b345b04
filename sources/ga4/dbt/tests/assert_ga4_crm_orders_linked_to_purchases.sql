{{ config(severity='warn') }}

-- a low share of CRM orders matched to GA4 purchases points to broken tracking (consent, blockers, a missing
-- transaction_id in the data layer) or to a GA4 load that is behind. Warns below var `ga4_min_linkage_rate`
-- and shows the rate (audit_ga4_linkage).
select
    first_day,
    last_day,
    crm_orders,
    linked_orders,
    linkage_rate,
    min_linkage_rate

from {{ ref('audit_ga4_linkage') }}

where crm_orders > 0 and linkage_rate < min_linkage_rate
