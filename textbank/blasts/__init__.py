"""The send pipeline, launch to callback: snapshot, claim, gate, send, record, sweep, deliver."""
