-- every ad-day with actions has its insight row; dim_meta_ads starts from the insight rows, so the
-- conversions of any other ad-day would be lost
select
    insight_actions.account_id,
    insight_actions.ad_id,
    insight_actions.date_day,
    sum(insight_actions.conversions) as conversions

from {{ ref('stg_meta_ads__insight_actions') }} as insight_actions

left join {{ ref('stg_meta_ads__insights') }} as insights
    on
        insight_actions.account_id = insights.account_id
        and insight_actions.ad_id = insights.ad_id
        and insight_actions.date_day = insights.date_day

where insights.ad_id is null

group by insight_actions.account_id, insight_actions.ad_id, insight_actions.date_day
