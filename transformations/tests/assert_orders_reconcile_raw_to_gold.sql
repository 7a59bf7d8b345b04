{{ config(tags=['critical']) }}

-- every CRM order in raw reaches Silver, fact_orders and mart_orders once, with the same total amount; and the
-- reporting-currency revenue of the mart equals the fact's (audit_order_reconciliation)
with

audit as (

    select * from {{ ref('audit_order_reconciliation') }}

),

fact as (

    select amount_reporting from audit
    where layer = 'gold.fact_orders'

)

select
    audit.layer,
    audit.orders,
    audit.amount,
    audit.amount_reporting,
    audit.raw_orders,
    audit.raw_amount,
    fact.amount_reporting as fact_amount_reporting

from audit

cross join fact

where
    not audit.matches_raw
    or (audit.amount_reporting is not null and audit.amount_reporting <> fact.amount_reporting)
