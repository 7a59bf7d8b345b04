{{ interface_union('ad_platform', 'ad_performance_daily') }}
