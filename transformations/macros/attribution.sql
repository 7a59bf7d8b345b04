{#
    channel_grouping(source, medium): the marketing channel of a GA4 session source / medium, by the first rule
    of var `attribution_channel_rules` that matches (rules list lower-case `sources` and/or `mediums`);
    `other` when none does.
#}
{% macro channel_grouping(source, medium) -%}
    {%- set whens = [] -%}
    {%- for rule in var('attribution_channel_rules') -%}
        {%- set conditions = [] -%}
        {%- if rule.get('sources') -%}
            {%- do conditions.append("lower(" ~ source ~ ") in ('" ~ rule['sources'] | join("', '") ~ "')") -%}
        {%- endif -%}
        {%- if rule.get('mediums') -%}
            {%- do conditions.append("lower(" ~ medium ~ ") in ('" ~ rule['mediums'] | join("', '") ~ "')") -%}
        {%- endif -%}
        {%- do whens.append("when " ~ conditions | join(" and ") ~ " then '" ~ rule['channel'] ~ "'") -%}
    {%- endfor -%}
    case {{ whens | join(' ') }} else 'other' end
{%- endmacro %}

{#
    attribution_model(): var `attribution_model`, checked: `last_click` or `last_non_direct`.
#}
{% macro attribution_model() -%}
    {%- set model = var('attribution_model', 'last_click') -%}
    {%- if model not in ('last_click', 'last_non_direct') -%}
        {%- set message = "var attribution_model must be last_click or last_non_direct, not '" ~ model ~ "'" -%}
        {{ exceptions.raise_compiler_error(message) }}
    {%- endif -%}
    {{ return(model) }}
{%- endmacro %}
