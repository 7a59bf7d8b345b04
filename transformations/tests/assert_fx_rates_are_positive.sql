-- every conversion rate must be a positive number
select
    currency,
    valid_from,
    rate_to_reporting

from {{ ref('stg_fx_rates') }}

where rate_to_reporting <= 0
