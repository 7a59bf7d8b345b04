-- CRM contacts (latest version) for the shared `orders` interface
select
    contact_id,
    email,
    country,
    phone,
    email_opt_in,
    created_at_utc

from {{ ref('stg_crm__contacts') }}
