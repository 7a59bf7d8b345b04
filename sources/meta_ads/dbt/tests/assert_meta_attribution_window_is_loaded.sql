{{ config(tags=['critical']) }}

-- var `meta_attribution_window` must be a window the Meta source loads (sources.meta_ads.attribution_windows,
-- plus `default`); otherwise every conversion would silently be 0
select
    count(*) as loaded_action_rows,
    '{{ var("meta_attribution_window") }}' as attribution_window

from {{ source('meta_ads', 'insights_actions') }}

having
    count(*) > 0
    and sum(case when attribution_window = '{{ var("meta_attribution_window") }}' then 1 else 0 end) = 0
