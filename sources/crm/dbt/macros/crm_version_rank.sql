{#
    Versions of the raw CRM tables. `raw_crm.orders` and `raw_crm.contacts` hold every delivered version of
    every row once (one per export file version); dbt picks the current one.

    crm_version_order(): the version order, newest first. `_row_version` sorts in version order as text
    (full-precision file modification time, then file path, then line: `<17-digit microseconds>|<file url>|
    <10-digit line>`). A tie is one file version read twice (rewritten under the same time: another identity):
    the later Bronze load wins, then dlt's load id. The same live and on replay (a replay may load both Bronze
    files at once, under one dlt load id).

    crm_version_rank(partition_by): 1 for the latest version of each key (`partition_by`, a column list).
#}
{% macro crm_version_order() -%}
    _row_version desc nulls last, _bronze_load_id desc nulls last, _dlt_load_id desc nulls last
{%- endmacro %}

{% macro crm_version_rank(partition_by) -%}
    row_number() over (partition by {{ partition_by }} order by {{ crm_version_order() }})
{%- endmacro %}
