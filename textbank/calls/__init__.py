"""Voice campaigns: scripts, the calls table, placing calls, TwiML, callbacks, reconciliation."""
