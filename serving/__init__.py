"""Serving: scoring, segments, batch lists, API."""
