"""Campaigns: definition and checks, audiences, message rendering, pause/resume and stats."""
