{{ interface_union('orders', 'contacts') }}
