"""Live events over Litestar's Channels plugin: names, the plugin, publishing."""
