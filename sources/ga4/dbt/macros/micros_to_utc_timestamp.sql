{#
    micros_to_utc_timestamp(column)

    Turns microseconds since the Unix epoch (a number or a string of digits, e.g. GA4's `event_timestamp`
    '1785584474762596') into a timestamp in UTC. Strings that are not an integer become null.

    Result type: DuckDB `timestamp` (no time zone, UTC wall clock); BigQuery `timestamp` (UTC by definition),
    the same types as `to_utc_timestamp`.
#}
{% macro micros_to_utc_timestamp(column) -%}
    {{ return(adapter.dispatch('micros_to_utc_timestamp', 'mdw_ga4')(column)) }}
{%- endmacro %}


{% macro duckdb__micros_to_utc_timestamp(column) -%}
    make_timestamp(try_cast(trim(cast({{ column }} as varchar)) as bigint))
{%- endmacro %}


{% macro bigquery__micros_to_utc_timestamp(column) -%}
    timestamp_micros(safe_cast(trim(cast({{ column }} as string)) as int64))
{%- endmacro %}


{% macro default__micros_to_utc_timestamp(column) -%}
    {{ exceptions.raise_compiler_error(
        "micros_to_utc_timestamp is not implemented for adapter '" ~ adapter.type() ~ "'"
    ) }}
{%- endmacro %}
