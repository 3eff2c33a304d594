"""The stored taste document: JSON all the way down, and a change of tastes is noticed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from services.features.domain.details import clusters_changed, taste_details
from services.features.domain.taste import PlayColumns
from services.ingest.domain.exports import read_export_path

EFRROWINI = Path(__file__).resolve().parents[3] / "shared/data/spotify-history-efrrowini"


def test_the_document_is_plain_json_and_notices_changed_tastes() -> None:
    plays = [p for p in read_export_path(EFRROWINI).plays if p.artist_name]
    columns = PlayColumns(
        artist=[p.artist_name or "" for p in plays],
        ended_at_s=np.array([p.ended_at.timestamp() for p in plays]),
        ms_played=np.array([p.ms_played for p in plays], dtype=np.int64),
        skipped=np.array([bool(p.skipped) for p in plays]),
    )
    as_of = datetime(2026, 6, 1, tzinfo=UTC)
    details = taste_details(columns, [p.platform for p in plays], as_of, {})
    assert json.loads(json.dumps(details)) == details
    assert len(details["clusters"]) >= 5
    assert {context["kind"] for context in details["contexts"]} >= {"hour_band", "day_type"}
    assert details["evolution"][0]["month"] == "2022-05"
    assert not clusters_changed(details["clusters"], details["clusters"])
    assert clusters_changed(None, details["clusters"])
    fewer = taste_details(
        PlayColumns(
            columns.artist[:500],
            columns.ended_at_s[:500],
            columns.ms_played[:500],
            columns.skipped[:500],
        ),
        [p.platform for p in plays[:500]],
        as_of,
        {},
    )
    assert clusters_changed(details["clusters"], fewer["clusters"])
