"""Compliance every send and call path consults: the global opt-out ledger and quiet hours."""
