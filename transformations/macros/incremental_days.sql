{#
    Incremental facts by day, the same on DuckDB and BigQuery.

    day_incremental_config(day_column): config for a fact rebuilt a whole day at a time: BigQuery replaces the
    day partitions a run selects (`insert_overwrite`, partitioned by day), DuckDB deletes and re-inserts the
    same days (`delete+insert` on the day column). Rows that vanished upstream disappear with their day.

    load_epoch(load_id): a dlt `_dlt_load_id` (Unix seconds as text) as a number.

    changed_since_lookback(load_column): true for rows loaded after (newest load already in the model) minus var
    `gold_lookback_days` - so with the default of 3 days the loads of the last 3 days are processed again, which
    also catches loads committed out of order - and always on a full build.
#}
{% macro day_incremental_config(day_column) -%}
    {%- if target.type == 'bigquery' -%}
        {{ return({
            'materialized': 'incremental',
            'incremental_strategy': 'insert_overwrite',
            'partition_by': {'field': day_column, 'data_type': 'date', 'granularity': 'day'},
            'on_schema_change': 'append_new_columns',
        }) }}
    {%- else -%}
        {{ return({
            'materialized': 'incremental',
            'incremental_strategy': 'delete+insert',
            'unique_key': day_column,
            'on_schema_change': 'append_new_columns',
        }) }}
    {%- endif -%}
{%- endmacro %}

{% macro load_epoch(load_id) -%}
    cast({{ load_id }} as decimal(20, 6))
{%- endmacro %}

{% macro changed_since_lookback(load_column) -%}
    {%- if is_incremental() -%}
        {{ load_column }} > (
            select coalesce(max(existing.{{ load_column }}), 0) - {{ var('gold_lookback_days', 3) * 86400 }}
            from {{ this }} as existing
        )
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
