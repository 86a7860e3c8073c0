"""Helpers for voice campaign tests: a compliant script, campaigns, calls by phone."""

from __future__ import annotations

import collections

SCRIPT = (
    "This is textbank calling for your union, {first_name}. To stop these calls, press 9. "
    "We need volunteers for Saturday's canvass. Press 1 to volunteer. "
    "Questions? Call us back at 617-555-0100."
)
SCRIPT_ES = (
    "Le llama textbank de parte de su sindicato. Para no recibir más llamadas, oprima 9. "
    "Necesitamos voluntarios. Oprima 1 para ser voluntario. "
    "¿Preguntas? Llámenos al 617-555-0100."
)
VOICEMAIL = "This is textbank with a message about Saturday's canvass. Call us at 617-555-0100."


def voice_campaign(**overrides) -> dict:
    body = {
        "name": "Canvass calls",
        "kind": "volunteer",
        "channel": "voice",
        "message": SCRIPT,
        "translations": {"es": SCRIPT_ES},
        "audience": {"locals": ["1199"]},
        "voice": {
            "menu": {"1": "volunteer"},
            "voicemail": {"en": VOICEMAIL},
            "retry": {"attempts": 2, "spacing_minutes": 30},
        },
    }
    body.update(overrides)
    return body


def calls_by_phone(sandbox) -> dict[str, list]:
    """Every call the carrier created, grouped by the number called."""
    out: dict[str, list] = collections.defaultdict(list)
    for call in sandbox.state.all_calls():
        out[call.to].append(call)
    return dict(out)
