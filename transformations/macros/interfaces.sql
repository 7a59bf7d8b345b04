{#
    The shared Gold interfaces (sources/registry.py GOLD_INTERFACES). A source plugin's dbt package that provides
    an interface ships one model per interface model, named `<plugin>__<model>`, with exactly these columns and
    types (its yml enforces them as a dbt model contract). The core reads an interface only through
    interface_union, which unions the models of the providers the framework enabled (var
    `mdw_<interface>_sources`) and, with none enabled, is an empty relation of the same columns.
#}
{% macro interface_columns(model) -%}
{%- set text = dbt.type_string() -%}
{%- set int = dbt.type_bigint() -%}
{%- set ts = dbt.type_timestamp() -%}
{%- set flag = dbt.type_boolean() -%}
{%- set money = 'decimal(38, 9)' -%}
{%- set amount = 'decimal(18, 2)' -%}
{%- set contracts = {
        'ad_performance_daily': [
            ('platform', text), ('date_day', 'date'), ('account_id', text), ('campaign_id', text),
            ('ad_group_id', text), ('ad_id', text), ('currency', text), ('spend', money), ('impressions', int),
            ('clicks', int), ('conversions', money), ('conversion_value', money), ('_load_epoch', 'decimal(20, 6)'),
        ],
        'ad_campaigns': [
            ('platform', text), ('campaign_id', text), ('campaign_name', text), ('account_id', text),
            ('channel', text), ('objective', text), ('status', text), ('effective_status', text),
            ('started_at_utc', ts), ('stopped_at_utc', ts), ('daily_budget', amount), ('lifetime_budget', amount),
            ('currency', text),
        ],
        'web_purchases': [
            ('transaction_id', text), ('user_pseudo_id', text), ('event_at_utc', ts), ('date_day', 'date'),
            ('source', text), ('medium', text), ('campaign_id', text), ('campaign_name', text),
        ],
        'web_sessions_daily': [
            ('date_day', 'date'), ('source', text), ('medium', text), ('campaign_id', text),
            ('campaign_name', text), ('sessions', int),
        ],
        'order_lines': [
            ('order_id', text), ('line_kind', text), ('contact_id', text), ('user_pseudo_id', text),
            ('transaction_id', text), ('campaign_id', text), ('ordered_at_utc', ts), ('order_date_utc', 'date'),
            ('order_date_local', 'date'), ('amount', amount), ('currency', text), ('fx_rate', money),
            ('amount_reporting', amount), ('reporting_currency', text), ('items', int), ('channel', text),
            ('utm_source', text), ('utm_medium', text), ('is_repeat', flag), ('payment_method', text),
            ('_dlt_load_id', text),
        ],
        'contacts': [
            ('contact_id', text), ('email', text), ('country', text), ('phone', text), ('email_opt_in', flag),
            ('created_at_utc', ts),
        ],
    } -%}
{{ return(contracts[model]) }}
{%- endmacro %}

{% macro interface_union(interface, model) -%}
{%- set columns = interface_columns(model) -%}
{%- set providers = var('mdw_' ~ interface ~ '_sources', []) -%}
{%- if providers | length == 0 %}
    -- no installed plugin provides `{{ interface }}`: an empty relation with the interface's columns
    select
{%- for name, type in columns %}
        cast(null as {{ type }}) as {{ name }}{{ "," if not loop.last }}
{%- endfor %}
    limit 0
{%- else -%}
{%- for plugin in providers %}
    select
{%- for name, type in columns %}
{{ name }}{{ "," if not loop.last }}
{%- endfor %}
    from {{ ref(plugin ~ '__' ~ model) }}
{{ "union all" if not loop.last }}
{%- endfor -%}
{%- endif -%}
{%- endmacro %}
