"""Ingest's storage on a real PostgreSQL: a real export is stored once per play, a re-import
stores nothing, and a failure half-way stores nothing at all."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from pathlib import Path

import pytest

from services.ingest.adapters import store
from services.ingest.domain import exports
from services.ingest.domain.announce import import_report
from services.ingest.domain.exports import (
    ExportError,
    ParsedExport,
    read_export,
    read_export_path,
)

pytestmark = pytest.mark.integration


async def _count(pool, user_id: uuid.UUID) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) FROM ingest.plays WHERE user_id = %s", (user_id,))
        row = await cur.fetchone()
    return int(row[0])


async def _import(pool, user_id: uuid.UUID, export) -> list[store.ArtistDelta]:
    import_id = uuid.uuid4()
    await store.start_import(pool, import_id, user_id, "test.zip")
    progress: list[int] = []

    async def on_chunk(stored: int) -> None:
        progress.append(stored)

    _, deltas = await store.store_export(
        pool,
        user_id,
        import_id,
        lambda _hand: export,  # parsed already: every play is late, stored in chunks
        chunk_rows=5_000,
        report_of=import_report,
        on_chunk=on_chunk,
    )
    assert progress[-1] == len(export.plays)
    assert progress == sorted(progress)
    return deltas


async def test_sanabil_export_is_stored_once_per_play(pool, shared_data: Path) -> None:
    export = read_export_path(shared_data / "spotify-history-sanabil/my_spotify_data.zip")
    user_id = uuid.uuid4()
    deltas = await _import(pool, user_id, export)
    assert sum(d.new_plays for d in deltas) == 22_671
    assert await _count(pool, user_id) == 22_671
    again = await _import(pool, user_id, export)
    assert again == []
    assert await _count(pool, user_id) == 22_671
    other_user = uuid.uuid4()
    assert sum(d.new_plays for d in await _import(pool, other_user, export)) == 22_671


async def test_an_overlapping_export_adds_only_what_is_new(pool, shared_data: Path) -> None:
    export = read_export_path(shared_data / "spotify-history-efrrowini")
    half = type(export)(
        export.format, export.plays[: len(export.plays) // 2], export.files, export.ignored_files
    )
    user_id = uuid.uuid4()
    first = sum(d.new_plays for d in await _import(pool, user_id, half))
    second = sum(d.new_plays for d in await _import(pool, user_id, export))
    assert first == len(half.plays)
    assert first + second == len(export.plays) == await _count(pool, user_id)


async def test_a_failure_while_storing_stores_nothing(pool, shared_data: Path) -> None:
    export = read_export_path(shared_data / "spotify-history-efrrowini")
    user_id, import_id = uuid.uuid4(), uuid.uuid4()
    await store.start_import(pool, import_id, user_id, "test.zip")

    async def crash_after_first_chunk(stored: int) -> None:
        raise RuntimeError("simulated crash while storing")

    with pytest.raises(RuntimeError):
        await store.store_export(
            pool,
            user_id,
            import_id,
            lambda _hand: export,
            chunk_rows=1_000,
            report_of=import_report,
            on_chunk=crash_after_first_chunk,
        )
    assert await _count(pool, user_id) == 0
    record = await store.get_import(pool, import_id)
    assert record is not None and record.status == "running"


def _account_rows_of(export) -> bytes:
    """The account-data export Spotify derives from the same streams: end to the minute, names,
    ms played; rows under Spotify's 'Unknown' placeholders left out as they carry no names."""
    import json

    rows = [
        {
            "endTime": play.ended_at.strftime("%Y-%m-%d %H:%M"),
            "artistName": play.artist_name,
            "trackName": play.track_name,
            "msPlayed": play.ms_played,
        }
        for play in export.plays
        if play.artist_name and play.track_name
    ]
    return json.dumps(rows).encode()


async def test_the_account_export_of_the_same_listener_adds_nothing_twice(
    pool, shared_data: Path
) -> None:
    from services.ingest.domain.exports import read_export

    extended = read_export_path(shared_data / "spotify-history-efrrowini")
    account = read_export("StreamingHistory_music_0.json", _account_rows_of(extended))
    assert account.format == "account" and len(account.plays) > 0.9 * len(extended.plays)

    extended_first = uuid.uuid4()
    await _import(pool, extended_first, extended)
    assert await _import(pool, extended_first, account) == []
    assert await _count(pool, extended_first) == len(extended.plays)

    account_first = uuid.uuid4()
    stored = sum(d.new_plays for d in await _import(pool, account_first, account))
    added = sum(d.new_plays for d in await _import(pool, account_first, extended))
    assert stored == len(account.plays)
    # every extended play is matched by the account row of its artist, track and minute; plays
    # of one track ending in the same minute were already one play in the account data
    assert added == 0
    assert await _count(pool, account_first) == stored


async def test_first_import_fast_path_reports_what_the_general_path_reports(
    pool, shared_data: Path
) -> None:
    export = read_export_path(shared_data / "spotify-history-efrrowini")
    fast = await _import(pool, uuid.uuid4(), export)
    warmed_up = uuid.uuid4()
    probe = type(export)(export.format, export.plays[:1], export.files, export.ignored_files)
    await _import(pool, warmed_up, probe)  # the listener has a play: the general path runs
    general = await _import(pool, warmed_up, export)
    first = export.plays[0]
    expected = {d.artist: (d.new_plays, d.first_played_at, d.last_played_at) for d in fast}
    count = expected[first.artist_name or ""][0]
    if count == 1:
        del expected[first.artist_name or ""]
    else:
        rest = sorted(p.ended_at for p in export.plays[1:] if p.artist_name == first.artist_name)
        expected[first.artist_name or ""] = (count - 1, rest[0], rest[-1])
    assert {
        d.artist: (d.new_plays, d.first_played_at, d.last_played_at) for d in general
    } == expected
    assert [d.new_plays for d in fast] == sorted((d.new_plays for d in fast), reverse=True)


# --- parsing and storing at once (the service's path) ---------------------------------------


def _row(ts: str, uri: str, ms: int, artist: str = "Kano") -> dict[str, object]:
    return {
        "ts": ts,
        "ms_played": ms,
        "spotify_track_uri": uri,
        "master_metadata_track_name": f"track {uri[-1]}",
        "master_metadata_album_artist_name": artist,
        "master_metadata_album_album_name": "album",
        "skipped": False,
    }


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(f"Spotify Extended Streaming History/{name}", data)
    return buffer.getvalue()


async def _import_streaming(
    pool, user_id: uuid.UUID, payload: bytes
) -> tuple[ParsedExport, list[store.ArtistDelta], list[int]]:
    import_id = uuid.uuid4()
    await store.start_import(pool, import_id, user_id, "test.zip")
    progress: list[int] = []

    async def on_chunk(stored: int) -> None:
        progress.append(stored)

    export, deltas = await store.store_export(
        pool,
        user_id,
        import_id,
        lambda hand: read_export("test.zip", payload, hand=hand),
        chunk_rows=2,
        report_of=import_report,
        on_chunk=on_chunk,
    )
    return export, deltas, progress


async def _stored(pool, user_id: uuid.UUID) -> list[tuple[str, int]]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT play_key, ms_played FROM ingest.plays WHERE user_id = %s ORDER BY 1",
            (user_id,),
        )
        return [(key, ms) for key, ms in await cur.fetchall()]


@pytest.mark.parametrize("first_import", [True, False])
async def test_a_later_file_that_plays_a_handed_stream_longer_replaces_it(
    pool, first_import: bool
) -> None:
    one = [
        _row("2024-01-01T10:00:00Z", "spotify:track:1", 1_000),
        _row("2024-01-01T11:00:00Z", "spotify:track:2", 50_000),
    ]
    two = [
        _row("2024-01-01T10:00:00Z", "spotify:track:1", 90_000),
        _row("2024-01-02T10:00:00Z", "spotify:track:3", 60_000),
    ]
    user_id = uuid.uuid4()
    if not first_import:  # a stored play of another stream: the stage path
        await _import_streaming(
            pool,
            user_id,
            _zip(
                {
                    "Streaming_History_Audio_0.json": json.dumps(
                        [_row("2023-01-01T10:00:00Z", "spotify:track:9", 40_000)]
                    ).encode()
                }
            ),
        )
    payload = _zip(
        {
            "Streaming_History_Audio_1.json": json.dumps(one).encode(),
            "Streaming_History_Audio_2.json": json.dumps(two).encode(),
        }
    )
    export, deltas, progress = await _import_streaming(pool, user_id, payload)
    assert export.withdrawn_keys == ["2024-01-01T10:00:00Z|spotify:track:1"]
    assert [play.ms_played for play in export.late_plays] == [90_000]
    assert progress == [2, 3, 3]  # one file at a time, then the replaced play
    assert sum(delta.new_plays for delta in deltas) == 3
    stored = await _stored(pool, user_id)
    assert ("2024-01-01T10:00:00Z|spotify:track:1", 90_000) in stored
    assert len(stored) == 3 + (0 if first_import else 1)
    _, again, _ = await _import_streaming(pool, user_id, payload)
    assert again == [] and await _stored(pool, user_id) == stored


async def test_a_bad_file_after_handed_ones_stores_nothing_and_leaves_the_import_open(
    pool,
) -> None:
    good = json.dumps([_row("2024-01-01T10:00:00Z", "spotify:track:1", 60_000)]).encode()
    payload = _zip(
        {
            "Streaming_History_Audio_1.json": good,
            "Streaming_History_Audio_2.json": good[: len(good) // 2],  # truncated
        }
    )
    user_id = uuid.uuid4()
    with pytest.raises(ExportError, match=r"Streaming_History_Audio_2\.json"):
        await _import_streaming(pool, user_id, payload)
    assert await _count(pool, user_id) == 0
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT status FROM ingest.imports WHERE user_id = %s", (user_id,))
        assert [status for (status,) in await cur.fetchall()] == ["running"]


async def test_the_service_path_stores_what_the_two_step_path_stores(
    pool, shared_data: Path
) -> None:
    path = shared_data / "spotify-history-sanabil/my_spotify_data.zip"
    streamed_user, stepped_user = uuid.uuid4(), uuid.uuid4()
    export, deltas, _ = await _import_streaming(pool, streamed_user, path.read_bytes())
    assert deltas == await _import(pool, stepped_user, read_export_path(path))
    assert await _stored(pool, streamed_user) == await _stored(pool, stepped_user)
    assert export.music_plays == 22_671 and export.plays == []  # handed, not kept


async def test_a_store_that_fails_midway_stops_the_parse_and_stores_nothing(
    pool, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parse waits while two batches are unstored; when storing fails, it must be let go
    (not left waiting forever in its thread) and the error of the store raised."""
    monkeypatch.setattr(exports, "HAND_ROWS", 100)
    payload = (shared_data / "spotify-history-sanabil/my_spotify_data.zip").read_bytes()
    user_id, import_id = uuid.uuid4(), uuid.uuid4()
    await store.start_import(pool, import_id, user_id, "test.zip")
    handed: list[int] = []

    def parse(hand):
        def counting(plays):
            handed.append(len(plays))
            hand(plays)

        return read_export("test.zip", payload, hand=counting)

    async def failing(stored: int) -> None:
        raise RuntimeError("the disk is full")

    with pytest.raises(RuntimeError, match="the disk is full"):
        await store.store_export(
            pool,
            user_id,
            import_id,
            parse,
            chunk_rows=100,
            report_of=import_report,
            on_chunk=failing,
        )
    assert 0 < sum(handed) < 22_671  # it stopped early
    assert await _count(pool, user_id) == 0
