{{ interface_union('web_analytics', 'web_purchases') }}
