"""Feature engine: input contract, point-in-time RFM and engagement features (Ibis)."""
