{%- set reporting_currency = var('reporting_currency', 'EUR') | upper -%}

with

rates as (

    select * from {{ ref('fx_rates') }}

),

renamed as (

    select
        upper(trim(currency)) as currency,
        cast(rate_date as date) as rate_date,
        cast(rate_to_reporting as decimal(18, 9)) as rate_to_seed_base

    from rates

),

reporting_currency_rates as (

    select
        rate_date,
        rate_to_seed_base as reporting_rate_to_seed_base

    from renamed

    where currency = '{{ reporting_currency }}'

),

cross_rates as (

    -- the seed is quoted in EUR: divide by the reporting currency's own rate of the same month
    -- (a no-op for EUR) so any currency listed in the seed can be the reporting currency
    select
        renamed.currency,
        renamed.rate_date,
        cast(
            renamed.rate_to_seed_base / reporting_currency_rates.reporting_rate_to_seed_base as decimal(18, 9)
        ) as rate_to_reporting

    from renamed

    inner join reporting_currency_rates
        on renamed.rate_date = reporting_currency_rates.rate_date

),

final as (

    select
        currency,
        '{{ reporting_currency }}' as reporting_currency,
        rate_to_reporting,
        rate_date as valid_from,
        -- exclusive upper bound: the next rate's date; the latest rate stays valid
        coalesce(
            lead(rate_date) over (partition by currency order by rate_date),
            cast('9999-12-31' as date)
        ) as valid_to

    from cross_rates

)

select * from final
