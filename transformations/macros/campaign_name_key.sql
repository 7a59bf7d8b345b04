{#
    campaign_name_key(name): a campaign name reduced to lower-case letters and digits, so that a utm_campaign
    slug (`eu_summer_sale`) and the ad platform's name (`EU | Summer Sale`) meet; the fallback match of
    attribution when a session carries no known campaign id.
#}
{% macro campaign_name_key(name) -%}
    {{ return(adapter.dispatch('campaign_name_key', 'marketing_dwh')(name)) }}
{%- endmacro %}

{% macro default__campaign_name_key(name) -%}
    nullif(regexp_replace(lower({{ name }}), '[^a-z0-9]+', '', 'g'), '')
{%- endmacro %}

{% macro bigquery__campaign_name_key(name) -%}
    nullif(regexp_replace(lower({{ name }}), r'[^a-z0-9]+', ''), '')
{%- endmacro %}
