"""Garbage-collector settings for textbank's long-running processes (worker, web, sandbox)."""

from __future__ import annotations

import gc

# Objects allocated between young collections. CPython's default, 700, collects every
# millisecond or so of a blast, while each request in flight (~50 ms) is alive: it gets
# promoted, dies in an old generation, and the old generations fill with garbage that
# only full collections find. Measured in a sender: ~2,000 collections in a 27 s blast,
# full ones 70-125 ms each (the event loop stalled, every request in flight waiting).
YOUNG_THRESHOLD = 50_000


def settle() -> None:
    """Call once startup is done: what it built (modules, the app, metadata) stays for
    the life of the process, so no collection need walk it again; and collect young
    garbage less often. Cycles are still collected, a little later."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, 20, 100)
