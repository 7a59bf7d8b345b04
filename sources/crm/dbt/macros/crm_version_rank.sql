{#
    Versions of the raw CRM tables. `raw_crm.orders` and `raw_crm.contacts` hold every delivered version of
    every row once (one per export file version); dbt picks the current one.

    crm_version_order(): the version order, newest first: the full-precision file modification time, then the
    file path, then the line. A tie is one file version read twice (rewritten under the same time: another
    identity): the later Bronze load wins, then dlt's load id. The same live and on replay (a replay may load both Bronze
    files at once, under one dlt load id).

    crm_version_rank(partition_by): 1 for the latest version of each key (`partition_by`, a column list).

    crm_keyless_version(key): for a row without a value in `key`, text naming its version (file modification
    time, path and line), so that rows without a key are ranked one by one, not merged into one; else null.
#}
{% macro crm_version_order() -%}
    _source_modified_at desc nulls last, _source_file desc nulls last, _source_line desc nulls last,
    _bronze_load_id desc nulls last, _dlt_load_id desc nulls last
{%- endmacro %}

{% macro crm_keyless_version(key) -%}
    case when nullif(trim(cast({{ key }} as string)), '') is null then concat(
        coalesce(cast(_source_modified_at as string), ''), '|',
        coalesce(_source_file, ''), '|',
        coalesce(cast(_source_line as string), '')
    ) end
{%- endmacro %}

{% macro crm_version_rank(partition_by) -%}
    row_number() over (partition by {{ partition_by }} order by {{ crm_version_order() }})
{%- endmacro %}
