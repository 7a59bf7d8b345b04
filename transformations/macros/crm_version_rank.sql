{#
    crm_version_rank(key)

    1 for the latest delivered version of each `key` in a raw CRM table: the most recently modified
    export file, then the later line in it, then the later load. The same order as the `_row_version`
    dedup the CRM source applies when dlt merges the raw tables.
#}
{% macro crm_version_rank(key) -%}
    row_number() over (
        partition by {{ key }}
        order by
            _source_modified_at desc nulls last,
            _source_line desc nulls last,
            _dlt_load_id desc nulls last
    )
{%- endmacro %}
