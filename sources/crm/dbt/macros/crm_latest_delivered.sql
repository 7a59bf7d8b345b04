{#
    Columns a CRM export file did not carry.

    A file whose header lacks an expected column does not deliver that column: the CRM source lists such
    columns in `_columns_absent` (comma-separated, sorted; null when the header had them all) and leaves them
    null. Such a null must not overwrite the value an earlier file delivered; an empty value in a column the
    file did carry still means empty (null).

    crm_column_delivered(column): true when the row's file carried `column`.

    crm_latest_delivered(column, rank='version_rank'): an aggregate for a query grouped by the row key: the
    value of `column` in the latest version (lowest `rank`, see crm_version_rank) whose file carried the column,
    null included; null when no file ever carried it. DuckDB: `arg_min_null` (rows whose ordering value is null
    are skipped, a null value is kept). BigQuery: the first element of an ordered `array_agg` over one-field
    structs (a struct holding null is not a null element, so `ignore nulls` skips only the files without it).
#}
{% macro crm_column_delivered(column) -%}
    (_columns_absent is null or strpos(concat(',', replace(_columns_absent, ' ', ''), ','), ',{{ column }},') = 0)
{%- endmacro %}

{% macro crm_latest_delivered(column, rank='version_rank') -%}
    {{ return(adapter.dispatch('crm_latest_delivered', 'mdw_crm')(column, rank)) }}
{%- endmacro %}

{% macro duckdb__crm_latest_delivered(column, rank) -%}
    arg_min_null({{ column }}, case when {{ crm_column_delivered(column) }} then {{ rank }} end)
{%- endmacro %}

{% macro bigquery__crm_latest_delivered(column, rank) -%}
    array_agg(
        if({{ crm_column_delivered(column) }}, struct({{ column }} as v), null) ignore nulls
        order by {{ rank }} limit 1
    )[safe_offset(0)].v
{%- endmacro %}

{% macro default__crm_latest_delivered(column, rank) -%}
    {{ exceptions.raise_compiler_error(
        "crm_latest_delivered is not implemented for adapter '" ~ adapter.type() ~ "'"
    ) }}
{%- endmacro %}

{#
    crm_latest(column, rank='version_rank'): an aggregate for a query grouped by the row key: the value of
    `column` in the latest version (for key, required and lineage columns, which every version carries).
#}
{% macro crm_latest(column, rank='version_rank') -%}
    max(case when {{ rank }} = 1 then {{ column }} end)
{%- endmacro %}

{#
    crm_latest_lineage(rank='version_rank'): the lineage columns of the latest version, and how many versions
    raw holds (`_versions`), for a query grouped by the row key.
#}
{% macro crm_latest_lineage(rank='version_rank') -%}
    count(*) as _versions,
    {{ crm_latest('_source_file', rank) }} as _source_file,
    {{ crm_latest('_source_line', rank) }} as _source_line,
    {{ crm_latest('_source_modified_at', rank) }} as _source_modified_at,
    {{ crm_latest('_dlt_load_id', rank) }} as _dlt_load_id
{%- endmacro %}
