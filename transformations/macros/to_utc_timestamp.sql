{#
    to_utc_timestamp(column, default_tz, tz_column=none)

    Turns an ISO-8601 timestamp string into a timestamp in UTC.
      - `column`: SQL expression holding the string, e.g. 'order_ts'.
      - `default_tz`: IANA time zone name (a plain string such as 'Europe/Berlin') used for strings
        without an offset.
      - `tz_column`: instead of `default_tz`, a SQL expression giving each row's IANA time zone (e.g. the
        account's: 'customers.timezone_name'), for sources that report local times per account.

    Accepted forms: `2026-08-03T14:05:09+02:00`, `...+0200`, `...+02`, `...Z` (any case), a space instead
    of `T`, fractional seconds, whitespace before the offset, and naive strings (`2026-08-03T14:05:09`),
    which are read as local time in `default_tz`. The session time zone is never used.
    A naive time that falls into a DST gap or overlap is resolved by the database's time zone library.
    Unparseable strings become null (guard the result with a not_null test).

    Result type: DuckDB `timestamp` (no time zone, UTC wall clock); BigQuery `timestamp` (UTC by definition).
#}
{% macro to_utc_timestamp(column, default_tz, tz_column=none) -%}
    {%- set zone = tz_column if tz_column is not none else "'" ~ default_tz ~ "'" -%}
    {{ return(adapter.dispatch('to_utc_timestamp')(column, zone)) }}
{%- endmacro %}


{#- regex: a UTC offset (`Z`, `+HH`, `+HH:MM`) right after a time of day, at the end of the string -#}
{% macro _utc_offset_pattern() -%}
    [0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?(Z|[+-][0-9]{2}(:[0-9]{2})?)$
{%- endmacro %}


{#-
    The string upper-cased and trimmed, without blanks before its offset, `+HHMM` rewritten to `+HH:MM`.
    `raw` is the prefix that makes a regex literal raw (BigQuery: 'r'), so that `\1` means the same everywhere.
-#}
{% macro _normalized_timestamp_string(column, raw='') -%}
    regexp_replace(
        regexp_replace(
            upper(trim(cast({{ column }} as string))),
            {{ raw }}'[[:space:]]+(Z|[+-][0-9:]+)$', {{ raw }}'\1'
        ),
        {{ raw }}'(:[0-9]{2}([.][0-9]+)?[+-][0-9]{2})([0-9]{2})$', {{ raw }}'\1:\3'
    )
{%- endmacro %}


{#- `zone`: SQL for the time zone of naive strings (a quoted literal or a column) -#}
{% macro duckdb__to_utc_timestamp(column, zone) -%}
    {%- set normalized = _normalized_timestamp_string(column) -%}
    case
        when regexp_matches({{ normalized }}, '{{ _utc_offset_pattern() }}')
            then timezone('UTC', try_cast({{ normalized }} as timestamptz))
        else timezone('UTC', timezone({{ zone }}, try_cast({{ normalized }} as timestamp)))
    end
{%- endmacro %}


{% macro bigquery__to_utc_timestamp(column, zone) -%}
    {%- set normalized = _normalized_timestamp_string(column, raw='r') -%}
    case
        when regexp_contains({{ normalized }}, r'{{ _utc_offset_pattern() }}')
            then safe_cast({{ normalized }} as timestamp)
        else safe.timestamp({{ normalized }}, {{ zone }})
    end
{%- endmacro %}


{% macro default__to_utc_timestamp(column, zone) -%}
    {{ exceptions.raise_compiler_error(
        "to_utc_timestamp is not implemented for adapter '" ~ adapter.type() ~ "'"
    ) }}
{%- endmacro %}
