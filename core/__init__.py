"""What every stage shares and nothing of ours lies below: the settings schema (``settings``),
atomic file writes (``files``) and HTML report helpers (``html``)."""
