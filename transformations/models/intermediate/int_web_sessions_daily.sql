{{ interface_union('web_analytics', 'web_sessions_daily') }}
