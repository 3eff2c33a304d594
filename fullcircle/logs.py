"""Logging set-up: one line per record, and secrets (keys, tokens, passwords in URLs) redacted."""

from __future__ import annotations

import json
import logging
import re
import sys

_BEARER = re.compile(r"(?i)(bearer\s+)([A-Za-z0-9._~+/=-]+)")
_OUR_API_KEY = re.compile(r"\bfc_[0-9a-f]{12}_[A-Za-z0-9_-]+")
_KEY_VALUE = re.compile(
    r"(?i)(api[_-]?key|token|secret|password|authorization)([\"']?\s*[:=]\s*[\"']?)"
    r"(?!\*\*\*)([^\s\"'&,]+)"
)
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)([^@\s]+)(@)")


def redact(text: str) -> str:
    """`text` with anything that looks like a credential replaced by ***."""
    text = _OUR_API_KEY.sub("***", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)}***", text)
    text = _KEY_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
    return _URL_PASSWORD.sub(lambda m: f"{m.group(1)}***{m.group(3)}", text)


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line (time, level, service, logger, message, error), redacted."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        if record.exc_info:
            line["error"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)


def configure_logging(level: str, service: str, log_format: str = "text") -> None:
    """Log to stderr, one line per record, secrets redacted: `time level service logger:
    message` (text) or one JSON object (json)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(service)
        if log_format == "json"
        else RedactingFormatter(f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "pylast", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
