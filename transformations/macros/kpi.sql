{#
    kpi(name): the SQL of a KPI from the catalogue in var `kpis` (dbt_project.yml), for a select over the KPI's
    mart grouped at the grain wanted. `sql` KPIs are one aggregate; `ratio` KPIs divide two catalogue KPIs after
    aggregation, so a ratio is always recomputed from the sums of the grain shown. dashboard/kpis.py renders the
    same catalogue the same way.
#}
{% macro kpi(name) -%}
    {%- set catalogue = var('kpis') -%}
    {%- if name not in catalogue -%}
        {{ exceptions.raise_compiler_error("KPI '" ~ name ~ "' is not in var `kpis` (dbt_project.yml)") }}
    {%- endif -%}
    {%- set definition = catalogue[name] -%}
    {%- if definition.get('ratio') -%}
        ({{ kpi(definition['ratio'][0]) }}) / nullif(({{ kpi(definition['ratio'][1]) }}), 0)
    {%- else -%}
        {{ definition['sql'] }}
    {%- endif -%}
{%- endmacro %}
