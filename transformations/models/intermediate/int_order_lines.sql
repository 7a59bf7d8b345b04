{{ interface_union('orders', 'order_lines') }}
