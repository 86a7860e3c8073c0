"""Inbound texts: storing a reply, reading its keywords, and acting on it."""
