{#
    Conversion into the reporting currency (var `reporting_currency`), one definition for every model.

    reporting_fx_rate(currency, rate): the rate to use, 1 for the reporting currency itself.
    to_reporting(amount, fx_rate): the amount in the reporting currency, rounded to cents.
#}
{% macro reporting_fx_rate(currency, rate) -%}
    cast(
        case
            when {{ currency }} = '{{ var("reporting_currency", "EUR") | upper }}' then 1
            else {{ rate }}
        end as decimal(18, 9)
    )
{%- endmacro %}

{% macro to_reporting(amount, fx_rate) -%}
    cast(round(cast({{ amount }} as decimal(28, 2)) * cast({{ fx_rate }} as decimal(28, 9)), 2) as decimal(18, 2))
{%- endmacro %}
