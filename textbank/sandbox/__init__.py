"""The sandbox carrier: textbank's local stand-in for Twilio's REST API and webhooks."""

from textbank.sandbox.config import SandboxConfig
from textbank.sandbox.server import SandboxServer

__all__ = ["SandboxConfig", "SandboxServer"]
