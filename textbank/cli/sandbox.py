"""`textbank sandbox`: run the sandbox carrier (a local Twilio stand-in) in the foreground."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import click
from click.decorators import FC

from textbank.sandbox.config import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN


def _rate(name: str, of: str) -> Callable[[FC], FC]:
    return click.option(
        f"--{name.replace('_', '-')}",
        name,
        type=click.FloatRange(0.0, 1.0),
        default=0.0,
        show_default=True,
        help=f"Share of {of} (0-1).",
    )


@click.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8089, show_default=True, type=int)
@click.option("--latency-ms", type=click.FloatRange(0), default=0.0, show_default=True)
@_rate("error_500_rate", "creates")
@_rate("error_429_rate", "creates")
@_rate("timeout_rate", "creates")
@_rate("late_create_rate", "creates held --late-create-seconds before they are stored")
@_rate("undelivered_rate", "messages")
@_rate("failed_rate", "messages")
@click.option("--timeout-seconds", type=click.FloatRange(0), default=20.0, show_default=True)
@click.option("--late-create-seconds", type=click.FloatRange(0), default=20.0,
              show_default=True)  # fmt: skip
@click.option("--fault-commits", is_flag=True, help="A 500 or timeout still stores the message.")
@click.option("--no-callbacks", is_flag=True, help="Never post status callbacks.")
@click.option("--callback-delay-ms", type=click.FloatRange(0), default=100.0, show_default=True)
@click.option("--sms-url", help="The app's inbound SMS webhook [PUBLIC_BASE_URL/twilio/sms].")
@click.option("--voice-url", help="Answer URL of calls without Url [PUBLIC_BASE_URL/twilio/voice]")
@click.option("--from-number", help="Our number: where member replies go.")
@click.option("--account-sid", default=DEFAULT_ACCOUNT_SID, show_default=True)
@click.option("--auth-token", default=DEFAULT_AUTH_TOKEN, show_default=True)
@click.option("--seed", type=int, help="Random seed, for repeatable faults.")
def sandbox_command(
    host: str,
    port: int,
    no_callbacks: bool,
    sms_url: str | None,
    voice_url: str | None,
    seed: int | None,
    **settings: object,
) -> None:
    """Run the sandbox carrier: Twilio's REST API subset with signed webhooks and faults."""
    from textbank.sandbox.config import SandboxConfig
    from textbank.sandbox.server import serve_forever

    public = (os.environ.get("PUBLIC_BASE_URL") or "http://127.0.0.1:5000").rstrip("/")
    config = SandboxConfig()
    try:
        config.update(
            {
                **settings,
                "callbacks": not no_callbacks,
                "sms_url": sms_url or f"{public}/twilio/sms",
                "voice_url": voice_url or f"{public}/twilio/voice",
                "random_seed": seed,
            }
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    base = f"http://{host}:{port}"
    click.echo(f"sandbox carrier at {base}  (TWILIO_API_URL={base})")
    click.echo(f"account {config.account_sid}, inbound SMS to {config.sms_url}")
    click.echo(f"inspect: {base}/sandbox/state")
    serve_forever(config, host, port)


def register(group: click.Group) -> None:
    group.add_command(sandbox_command)
