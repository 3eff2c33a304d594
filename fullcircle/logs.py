"""Logging set-up: one line per record, and secrets (keys, tokens, passwords in URLs) redacted."""

from __future__ import annotations

import logging
import re
import sys

_SECRET_PATTERNS = (
    re.compile(
        r"(?i)(api[_-]?key|token|secret|password|authorization)([\"']?\s*[:=]\s*[\"']?)([^\s\"'&,]+)"
    ),
    re.compile(r"(?i)(bearer\s+)([A-Za-z0-9._~+/=-]+)"),
    re.compile(r"(://[^:/@\s]+:)([^@\s]+)(@)"),
)


def redact(text: str) -> str:
    """`text` with anything that looks like a credential replaced by ***."""
    text = _SECRET_PATTERNS[0].sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
    text = _SECRET_PATTERNS[1].sub(lambda m: f"{m.group(1)}***", text)
    return _SECRET_PATTERNS[2].sub(lambda m: f"{m.group(1)}***{m.group(3)}", text)


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_logging(level: str, service: str) -> None:
    """Log to stderr as `time level service logger: message`, with secrets redacted."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        RedactingFormatter(f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "pylast", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
