{{ config(tags=['critical']) }}

-- one row per account, campaign, ad group (or none) and day in the ad group fact
select
    account_id,
    campaign_id,
    ad_group_id,
    date_day,
    count(*) as n_rows

from {{ ref('fct_google_ads_ad_group_daily') }}

group by account_id, campaign_id, ad_group_id, date_day

having count(*) > 1
