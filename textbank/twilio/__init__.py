"""Talking to Twilio: REST clients over textbank's own transport, statuses and error codes."""
