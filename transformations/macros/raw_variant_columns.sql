{#
    Variant columns in the raw datasets that no model reads.

    dlt names a column `<column>__v_<type>` (a variant) when a value does not fit its column's type
    (`spend__v_text` for `"spend": "1,5"`): the typed column is NULL in that row, so a model reading the typed
    column loses the value without an error. The pipelines freeze data types (the plugins' schema contract), so
    none should be made; these macros find any that exists anyway (made before the contract, or by hand) in the
    datasets of the project's `raw_*` sources, every table of them (declared as a source or not). A variant
    column counts as read when a model selecting from its table names it. A dataset that does not exist (a
    warehouse with only some of the sources) is skipped. The warehouse is only asked when tests run
    (`dbt test`, `dbt build`), so `dbt compile` and `dbt parse` stay offline.
#}

{% macro unread_raw_variant_columns() -%}
    {%- set unread = [] -%}
    {%- if execute and flags.WHICH in ('build', 'test', 'retry') -%}
        {%- set datasets = {} -%}
        {%- set readers = {} -%}
        {%- for source in graph.sources.values() if source.schema.startswith('raw_') -%}
            {%- do datasets.update({source.schema: source.database}) -%}
            {%- set key = (source.schema ~ '.' ~ source.identifier) | lower -%}
            {%- for node in graph.nodes.values() -%}
                {%- if node.resource_type == 'model' and source.unique_id in node.depends_on.nodes -%}
                    {%- do readers.update({key: readers.get(key, []) + [node.raw_code | lower]}) -%}
                {%- endif -%}
            {%- endfor -%}
        {%- endfor -%}
        {%- for schema in datasets | sort -%}
            {%- if adapter.check_schema_exists(datasets[schema], schema) -%}
                {%- set found = run_query(raw_variant_columns_query(datasets[schema], schema)) -%}
                {%- for row in found.rows -%}
                    {%- set ns = namespace(read=false) -%}
                    {%- for code in readers.get((schema ~ '.' ~ row[0]) | lower, []) -%}
                        {%- if (row[1] | lower) in code -%}{%- set ns.read = true -%}{%- endif -%}
                    {%- endfor -%}
                    {%- if not ns.read -%}
                        {%- do unread.append({'dataset': schema, 'table': row[0], 'column': row[1]}) -%}
                    {%- endif -%}
                {%- endfor -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(unread) }}
{%- endmacro %}


{% macro unread_raw_variant_rows() -%}
    {%- set unread = unread_raw_variant_columns() -%}
    {%- for variant in unread %}
    select
        '{{ variant.dataset }}' as raw_dataset,
        '{{ variant.table }}' as table_name,
        '{{ variant.column }}' as column_name
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
    {%- if not unread %}
    select
        cast(null as {{ dbt.type_string() }}) as raw_dataset,
        cast(null as {{ dbt.type_string() }}) as table_name,
        cast(null as {{ dbt.type_string() }}) as column_name
    where 1 = 0
    {%- endif %}
{%- endmacro %}


{% macro raw_variant_columns_query(database, schema) -%}
    {{ return(adapter.dispatch('raw_variant_columns_query', 'marketing_dwh')(database, schema)) }}
{%- endmacro %}

{% macro default__raw_variant_columns_query(database, schema) -%}
    select table_name, column_name
    from information_schema.columns
    where
        table_catalog = '{{ database }}'
        and table_schema = '{{ schema }}'
        and strpos(column_name, '__v_') > 0
    order by table_name, column_name
{%- endmacro %}

{% macro bigquery__raw_variant_columns_query(database, schema) -%}
    select table_name, column_name
    from `{{ database }}`.`{{ schema }}`.information_schema.columns
    where strpos(column_name, '__v_') > 0
    order by table_name, column_name
{%- endmacro %}
