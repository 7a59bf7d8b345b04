"""Acquisition & Ads: spend, reach and efficiency from the ad platforms, and the CRM revenue attributed to them.

Spend has no country and no utm_source: those filters do not apply here (the tab says so when they are set). The
platform filter (on this tab: it has no meaning for orders) lists the installed ad platforms found in the data.
"""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from dashboard import charts
from dashboard.filters import PlatformChoices, acquisition_where
from dashboard.ui import Page, chart, column_config, data_table, kpi_cards, query, table_name

MART = "mart_acquisition_daily"
SPEND_KPIS = ("ad_spend", "impressions", "clicks", "ctr", "cpc", "cost_per_conversion")
# the attributed-revenue card is the numerator of attributed ROAS beside it: revenue of campaigns with spend data
RESULT_KPIS = ("conversions", "platform_roas", "paid_attributed_revenue", "attributed_roas", "new_customers", "cac")
CAMPAIGN_KPIS = (
    "ad_spend",
    "impressions",
    "clicks",
    "ctr",
    "cpc",
    "conversions",
    "cost_per_conversion",
    "attributed_revenue",
    "attributed_roas",
    "new_customers",
)
# in the CSV, not on screen: with them the table would not fit a 1400 px window (CTR and cost / conv. are shown)
CAMPAIGN_CSV_ONLY = ("campaign_id", "impressions", "cpc")
CHANNEL_KPIS = ("ad_spend", "attributed_revenue", "paid_attributed_revenue", "attributed_roas", "cac")
PLATFORM_KPIS = (
    "ad_spend",
    "impressions",
    "clicks",
    "ctr",
    "cpc",
    "conversions",
    "cost_per_conversion",
    "platform_roas",
    "attributed_revenue",
    "attributed_roas",
)


def platform_choices() -> PlatformChoices:
    """Ad platforms (of campaigns with spend data, whichever plugins provide them) and the mart's other platforms."""
    sql = f"""
select platform, max(is_ad_platform) as is_ad_platform
from (
    select platform, 1 as is_ad_platform from {table_name("gold", "dim_campaign")} where has_spend_data
    union all
    select platform, 0 as is_ad_platform from {table_name("gold", MART)}
) as platforms
where platform is not null
group by platform
order by platform"""
    frame = query(sql)
    ad = frame["is_ad_platform"] == 1
    return PlatformChoices(tuple(frame.loc[ad, "platform"]), tuple(frame.loc[~ad, "platform"]))


def _by_platform(p: Page, choices: PlatformChoices) -> object:
    where, group = acquisition_where(p.filters), choices.group()
    sql = f"""
select
    platform_group as platform,
    {p.catalogue.select_list(PLATFORM_KPIS)}
from (
    select *, {group} as platform_group
    from {table_name("gold", MART)}
    {where}
) as rows_by_platform
group by platform_group
order by ad_spend desc, platform_group"""
    return query(sql, {**where.params, **group.params})


def _campaigns(p: Page) -> object:
    where = acquisition_where(p.filters)
    sql = f"""
select
    coalesce(max(campaign_name), campaign_id, '(no campaign)') as campaign,
    campaign_id,
    max(platform) as platform,
    {p.catalogue.select_list(CAMPAIGN_KPIS)}
from {table_name("gold", MART)}
{where}
group by campaign_id
order by attributed_revenue desc, campaign"""
    return query(sql, dict(where.params))


def _platform_filter(p: Page, choices: PlatformChoices) -> Page:
    """The platform multiselect (empty: all platforms) and the page with its choice."""
    left, _ = st.columns((1, 2))
    chosen = left.multiselect(
        "Ad platform",
        choices.options(),
        placeholder="All platforms",
        key="platforms",
        help="The ad platforms with spend in the warehouse (one per installed ad-platform plugin). "
        "(no ad platform): orders attributed to no ad campaign (direct, organic, email, ...) and campaigns of "
        "platforms that are not installed. The KPIs below are the total of the platforms chosen; the table by "
        "platform splits them.",
    )
    return replace(p, filters=replace(p.filters, platforms=choices.platforms(chosen)))


def render(p: Page) -> None:
    """Draw the tab for the page's filters."""
    choices = platform_choices()
    p = _platform_filter(p, choices)
    ignored = p.filters.not_applicable_to_spend()
    if ignored:
        st.warning(
            f"The {' and '.join(ignored)} filter does not apply on this tab: ad spend has no country or "
            "utm_source, so spend, platform metrics and attributed revenue here use only the date, channel "
            "and campaign filters.",
            icon=":material/filter_alt_off:",
        )
    where, previous = acquisition_where(p.filters), acquisition_where(p.filters.previous())
    kpi_cards(p, SPEND_KPIS, MART, where, previous)
    kpi_cards(p, RESULT_KPIS, MART, where, previous)

    daily = p.kpi_frame(("ctr", "clicks", "impressions", "ad_spend"), MART, where, group_by=("date_day",))
    daily = daily[daily["impressions"] > 0]
    fig = charts.line(daily, "date_day", "ctr", "Daily CTR (clicks / impressions per day)", "percent", y_label="CTR")
    chart(fig, "acq_ctr")

    st.markdown("**By platform**")
    by_platform = _by_platform(p, choices)
    fig = charts.bars(
        by_platform,
        "platform",
        {"ad_spend": "Ad spend", "attributed_revenue": "Attributed revenue"},
        "Ad spend and attributed revenue by platform",
        "money",
        p.currency,
    )
    chart(fig, "acq_platform")
    data_table(by_platform, "by_platform", column_config(p, PLATFORM_KPIS), {"platform": "Platform"})

    campaigns = _campaigns(p)
    with_campaign = campaigns[campaigns["campaign_id"].notna()]
    top = with_campaign.nlargest(10, "attributed_revenue")
    fig = charts.ranked_with_overlay(
        top,
        "campaign",
        ("attributed_revenue", "Attributed revenue"),
        ("ad_spend", "Ad spend"),
        "Top 10 campaigns by attributed revenue, with ad spend",
        "money",
        p.currency,
    )
    chart(fig, "acq_top_campaigns")
    st.markdown("**Campaigns**")
    labels = {"campaign": "Campaign", "campaign_id": "Id", "platform": "Platform"}
    data_table(campaigns, "campaigns", column_config(p, CAMPAIGN_KPIS), labels, csv_only=CAMPAIGN_CSV_ONLY)

    by_channel = p.kpi_frame(CHANNEL_KPIS, MART, where, group_by=("channel",))
    fig = charts.bars(
        by_channel.sort_values("ad_spend", ascending=False),
        "channel",
        {"ad_spend": "Ad spend", "attributed_revenue": "Attributed revenue"},
        "Campaign spend vs attributed revenue by channel",
        "money",
        p.currency,
    )
    chart(fig, "acq_channel")
    data_table(by_channel, "spend_vs_revenue_by_channel", column_config(p, CHANNEL_KPIS), {"channel": "Channel"})
    platforms = ", ".join(choices.ad_platforms) or "none yet"
    st.caption(
        f"Spend comes from the ad platforms loaded into the warehouse ({platforms}); campaigns of other platforms "
        "show attributed revenue without spend. The attributed-revenue card and attributed ROAS count only revenue "
        'of campaigns with spend data; "all orders" columns count every attributed order. A ratio without spend '
        "data (CAC, CPC, ROAS of direct or organic orders) shows –."
    )
