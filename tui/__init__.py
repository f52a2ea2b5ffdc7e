"""The terminal UI (``prov tui``, to come): Textual screens over the service."""
