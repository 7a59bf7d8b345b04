{#
    Use a model's custom schema (`+schema: silver`) verbatim instead of dbt's default
    `<target_schema>_<custom_schema>`; models without one land in the target schema.

    Gold is written, audited, then published: the framework sets the var `mdw_gold_schema` to `gold__staging`, so
    the Gold models (`+schema: gold`) build and are tested there, and pipelines/publish.py copies them into `gold`
    once every critical test passed. A manual `dbt build` without the var writes `gold` directly.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- elif custom_schema_name | trim == 'gold' -%}
        {{ var('mdw_gold_schema', 'gold') }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
