{{ config(tags=['critical']) }}

-- every CRM order line in raw (its latest version) reaches Silver, fact_orders and mart_orders once, with the same
-- total amount, and every refund line is netted on its order or listed in audit_crm_orphan_refunds; the
-- reporting-currency gross, refund and net revenue of Silver and the mart equal the fact's
-- (audit_order_reconciliation)
with

audit as (

    select * from {{ ref('audit_order_reconciliation') }}

),

fact as (

    select
        amount_reporting,
        refund_amount_reporting,
        net_amount_reporting

    from audit

    where layer = 'gold.fact_orders'

)

select
    audit.layer,
    audit.orders,
    audit.amount,
    audit.amount_reporting,
    audit.refunds,
    audit.refund_amount_reporting,
    audit.orphan_refunds,
    audit.net_amount_reporting,
    audit.raw_orders,
    audit.raw_amount,
    fact.amount_reporting as fact_amount_reporting,
    fact.refund_amount_reporting as fact_refund_amount_reporting,
    fact.net_amount_reporting as fact_net_amount_reporting

from audit

cross join fact

where
    not audit.matches_raw
    or (audit.amount_reporting is not null and audit.amount_reporting <> fact.amount_reporting)
    or (audit.refund_amount_reporting is not null and audit.refund_amount_reporting <> fact.refund_amount_reporting)
    or (audit.net_amount_reporting is not null and audit.net_amount_reporting <> fact.net_amount_reporting)
