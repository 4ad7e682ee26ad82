"""churnclv: shared CLI and settings."""
