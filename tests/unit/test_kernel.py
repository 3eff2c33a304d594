"""Kernel pieces with no servers: API keys, the rate limiter, tag spelling, log redaction,
migration folders, error mapping and import batching."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest

from fullcircle.db import MigrationError, load_migrations
from fullcircle.errors import InvalidArgument, NotFound, status_for
from fullcircle.events import ALL_EVENTS, CONSUMER_GROUPS, PlaysIngested
from fullcircle.logs import RedactingFormatter, redact
from fullcircle.ratelimit import max_calls_in_window, process_rate_limit
from fullcircle.tags import canonical_tag
from services.gateway.domain.keys import new_api_key, parse_token, secret_matches
from services.ingest.domain.announce import ArtistDelta, plays_ingested_batches

ROOT = Path(__file__).resolve().parents[2]


def test_api_keys_round_trip_and_only_their_hash_is_kept() -> None:
    key = new_api_key()
    parsed = parse_token(key.token)
    assert parsed == key
    assert key.secret not in key.secret_hash
    assert secret_matches(key.secret, key.secret_hash)
    assert not secret_matches(key.secret + "x", key.secret_hash)
    for malformed in ("", "Bearer", "fc_", "fc_abc", "xx_abc_def"):
        assert parse_token(malformed) is None


def test_a_rate_limit_grants_whole_calls_up_to_its_rate_in_any_second() -> None:
    limit = process_rate_limit("kernel-test", 5.7)  # never rounded up past the rate
    assert [limit.try_acquire() for _ in range(6)] == [True] * 5 + [False]
    assert max_calls_in_window([0.0, 0.5, 0.99, 1.0, 1.2]) == 4  # [0.5, 1.5) holds four


@pytest.mark.parametrize("spelling", ["Hip-Hop", "hip hop", " HIP_hop ", "hip  -  hop"])
def test_tag_spellings_meet(spelling: str) -> None:
    assert canonical_tag(spelling) == "hip hop"


def test_secrets_never_reach_the_log_output() -> None:
    key = new_api_key().token
    line = redact(
        f"authorization: Bearer {key} url=postgresql://me:hunter2@db/x api_key={key} token=abc"
    )
    assert key not in line and "hunter2" not in line and "abc" not in line
    record = logging.LogRecord("x", logging.INFO, "f", 1, "LASTFM_API_KEY=%s", ("s3cret",), None)
    assert "s3cret" not in RedactingFormatter("%(message)s").format(record)


def test_json_log_lines_are_structured_and_redacted() -> None:
    import json

    from fullcircle.logs import JsonFormatter

    key = new_api_key().token
    record = logging.LogRecord("gateway.x", logging.WARNING, "f", 1, "refused %s", (key,), None)
    line = json.loads(JsonFormatter("gateway").format(record))
    assert line["service"] == "gateway" and line["level"] == "WARNING"
    assert key not in line["message"] and line["message"].startswith("refused")


def test_migration_folders_are_numbered_without_gaps(tmp_path: Path) -> None:
    for service in ("gateway", "ingest", "enrich", "features", "model"):
        assert load_migrations(ROOT / "services" / service / "migrations")
    (tmp_path / "001_a.sql").write_text("SELECT 1;")
    (tmp_path / "003_c.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="expected migration 002"):
        load_migrations(tmp_path)


def test_domain_errors_map_to_status_codes() -> None:
    assert status_for(InvalidArgument("bad")) == (grpc.StatusCode.INVALID_ARGUMENT, "bad")
    assert status_for(NotFound("gone"))[0] == grpc.StatusCode.NOT_FOUND
    code, message = status_for(RuntimeError("secret internals"))
    assert code == grpc.StatusCode.INTERNAL and "secret" not in message


def test_every_event_has_a_versioned_stream_in_the_topology() -> None:
    for event_type in ALL_EVENTS:
        assert event_type.stream.endswith(".v1")
        assert event_type.stream in CONSUMER_GROUPS


def test_a_big_import_is_announced_in_a_handful_of_batches() -> None:
    when = datetime(2025, 1, 1, tzinfo=UTC)
    deltas = [ArtistDelta(f"artist {i}", 100, when, when) for i in range(1_201)]
    events = plays_ingested_batches(uuid.uuid4(), None, "extended", deltas, 500)
    assert [len(event.artists) for event in events] == [500, 500, 201]
    assert sum(event.new_plays for event in events) == 120_100
    assert [(event.batch, event.batches) for event in events] == [(1, 3), (2, 3), (3, 3)]
    assert all(isinstance(event, PlaysIngested) for event in events)
    assert plays_ingested_batches(uuid.uuid4(), None, "extended", [], 500) == []
