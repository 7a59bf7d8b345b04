{{ config(severity='warn') }}

-- a refund line whose order line is not (yet) in the warehouse: it is left out of revenue until its order arrives
-- (audit_crm_orphan_refunds); an export that lost the order, or a refund with a mistyped order_id, shows up here
select
    order_id,
    refund_amount,
    currency,
    _source_file,
    _source_line

from {{ ref('audit_crm_orphan_refunds') }}
