"""Channel connectors: each turns its channel's traffic into ``InboundMessage`` and back."""
