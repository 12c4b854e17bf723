"""JSON log lines on stderr. Records carry ids and codes, never personal values."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

_STANDARD = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}
# json.dumps escapes C0 controls; these it writes as they are: C1 controls, line and paragraph
# separators, bidirectional controls (a terminal shows the line reordered) and lone
# surrogates (the line could not be written at all). As JSON escapes they read the same.
_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        text = json.dumps(line, ensure_ascii=False, default=str)
        return _UNSAFE.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    quiet_drivers()


def quiet_drivers() -> None:
    """Driver and ORM loggers print statement parameters at DEBUG: keep them at WARNING."""
    for noisy in ("sqlalchemy", "aiosqlite", "asyncpg", "strawberry"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
