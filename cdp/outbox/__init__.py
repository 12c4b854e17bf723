"""The outbox: every message and webhook cdp sends, queued in the transaction that caused it
and drained by workers (cdp/outbox/worker.py)."""
