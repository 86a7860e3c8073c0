"""Counting engagement: per-local and per-campaign reports, the dashboard's data, digests."""
