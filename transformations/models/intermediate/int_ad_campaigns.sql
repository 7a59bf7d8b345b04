{{ interface_union('ad_platform', 'ad_campaigns') }}
