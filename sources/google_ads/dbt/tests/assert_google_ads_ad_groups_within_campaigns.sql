-- ad group metrics of a campaign-day never exceed the campaign's own (the API reports both; a larger ad group sum
-- means the two queries were fetched from different states of the account)
select
    ad_groups.account_id,
    ad_groups.campaign_id,
    ad_groups.date_day,
    sum(ad_groups.spend) as ad_group_spend,
    max(campaigns.spend) as campaign_spend

from {{ ref('stg_google_ads__ad_group_stats') }} as ad_groups

left join {{ ref('stg_google_ads__campaign_stats') }} as campaigns
    on
        ad_groups.account_id = campaigns.account_id
        and ad_groups.campaign_id = campaigns.campaign_id
        and ad_groups.date_day = campaigns.date_day

group by ad_groups.account_id, ad_groups.campaign_id, ad_groups.date_day

having sum(ad_groups.spend) > coalesce(max(campaigns.spend), 0)
