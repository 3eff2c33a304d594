"""An upload read as it arrives: in parts, parsed as the parts come, plays handed over in
batches and only their keys kept; a zip spooled to a temporary file that is gone afterwards
and inflated a chunk at a time, so a bomb stops at the limit having inflated no more."""

from __future__ import annotations

import io
import itertools
import json
import os
import tempfile
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.ingest.domain import exports
from services.ingest.domain import json_rows as decoder
from services.ingest.domain.exports import ExportError, ParsedExport, read_export, read_upload
from services.ingest.domain.plays import Play

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
EFRROWINI_2023 = DATA / "spotify-history-efrrowini" / "Streaming_History_Audio_2023.json"
SANABIL_ZIP = DATA / "spotify-history-sanabil" / "my_spotify_data.zip"
REQUESTED_AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def parts_of(payload: bytes, size: int) -> list[bytes]:
    return [payload[start : start + size] for start in range(0, len(payload), size)]


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def row(ts: str, track: str, ms_played: int) -> dict[str, object]:
    return {
        "ts": ts,
        "ms_played": ms_played,
        "spotify_track_uri": f"spotify:track:{track}",
        "master_metadata_track_name": f"Track {track}",
        "master_metadata_album_artist_name": "Artist",
    }


class Handed:
    """A `hand` that keeps what it is given, and when."""

    def __init__(self) -> None:
        self.batches: list[list[Play]] = []

    def __call__(self, plays: list[Play]) -> None:
        self.batches.append(plays)

    def stored(self, export: ParsedExport) -> dict[str, Play]:
        """What a consumer ends up storing: handed - withdrawn + late."""
        plays = {play.play_key: play for batch in self.batches for play in batch}
        for key in export.withdrawn_keys:
            del plays[key]
        plays.update((play.play_key, play) for play in export.late_plays)
        return plays


@pytest.mark.parametrize(
    ("path", "part_bytes"),
    [(EFRROWINI_2023, 997), (EFRROWINI_2023, 4 * 2**20), (SANABIL_ZIP, 65_536)],
)
def test_an_upload_in_many_parts_parses_as_in_one(path: Path, part_bytes: int) -> None:
    payload = path.read_bytes()
    whole = read_export(path.name, payload, requested_at=REQUESTED_AT)
    in_parts = read_upload(path.name, parts_of(payload, part_bytes), requested_at=REQUESTED_AT)
    assert in_parts == whole
    handed = Handed()
    streamed = read_upload(
        path.name, parts_of(payload, part_bytes), hand=handed, requested_at=REQUESTED_AT
    )
    assert streamed.plays == []  # handed over, not kept
    assert streamed.files == whole.files and streamed.music_plays == whole.music_plays
    assert sorted(handed.stored(streamed).values(), key=lambda p: p.play_key) == sorted(
        whole.plays, key=lambda p: p.play_key
    )


def test_parts_are_read_in_order_as_the_plays_are_handed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exports, "HAND_ROWS", 100)
    monkeypatch.setattr(decoder, "BATCH_BYTES", 64 * 1024)
    payload = EFRROWINI_2023.read_bytes()
    parts = parts_of(payload, 64 * 1024)
    events: list[tuple[str, int]] = []

    def arriving() -> Iterator[bytes]:
        for number, part in enumerate(parts):
            events.append(("part", number))
            yield part

    def hand(plays: list[Play]) -> None:
        events.append(("hand", len(plays)))

    export = read_upload(EFRROWINI_2023.name, arriving(), hand=hand, requested_at=REQUESTED_AT)
    numbers = [number for kind, number in events if kind == "part"]
    assert numbers == list(range(len(parts)))
    first_hand = events.index(next(event for event in events if event[0] == "hand"))
    assert first_hand < events.index(("part", 3))  # parsed as the parts come, not all first
    assert sum(count for kind, count in events if kind == "hand") == export.music_plays


def test_with_hand_a_play_superseded_in_a_later_batch_is_withdrawn_and_comes_late(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(exports, "HAND_ROWS", 2)
    monkeypatch.setattr(decoder, "BATCH_BYTES", 16)  # a batch per row
    rows = [
        row("2024-01-01T10:00:00Z", "1", 1_000),
        row("2024-01-01T11:00:00Z", "2", 50_000),
        row("2024-01-01T12:00:00Z", "3", 50_000),
        row("2024-01-01T10:00:00Z", "1", 90_000),  # the same stream, played longer
        row("2024-01-01T11:00:00Z", "2", 10),  # the same stream, shorter: merged away
    ]
    handed = Handed()
    export = read_upload(
        "Streaming_History_Audio_2024.json", [json.dumps(rows).encode()], hand=handed
    )
    assert export.plays == []
    assert export.withdrawn_keys == ["2024-01-01T10:00:00Z|spotify:track:1"]
    assert [play.ms_played for play in export.late_plays] == [90_000]
    assert export.music_plays == 3 and export.duplicates_merged == 2
    stored = handed.stored(export)
    assert sorted(play.ms_played for play in stored.values()) == [50_000, 50_000, 90_000]


def test_account_plays_handed_before_an_extended_file_are_withdrawn() -> None:
    account = [{"endTime": "2024-01-01 10:00", "artistName": "A", "trackName": "T", "msPlayed": 9}]
    extended = [row("2024-01-02T10:00:00Z", "1", 60_000)]
    payload = zip_bytes(
        {
            "Spotify Account Data/StreamingHistory_music_0.json": json.dumps(account).encode(),
            "Spotify Extended Streaming History/Streaming_History_Audio_2024.json": json.dumps(
                extended
            ).encode(),
        }
    )
    handed = Handed()
    export = read_upload("my_spotify_data.zip", [payload], hand=handed)
    assert export.format == "extended"
    assert export.withdrawn_keys == ["acct|2024-01-01T10:00Z|A|T"]
    assert [play.source for play in handed.stored(export).values()] == ["extended"]
    assert export == read_export("my_spotify_data.zip", payload, hand=Handed())


def bomb(inflated_mib: int) -> bytes:
    one = json.dumps(row("2024-01-01T10:00:00Z", "1", 1)).encode()
    block = (one + b",") * (2**20 // (len(one) + 1))
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("Streaming_History_Audio_2024.json", "w") as member,
    ):
        member.write(b"[")
        for _ in range(inflated_mib):
            member.write(block)
        member.write(one + b"]")
    return buffer.getvalue()


@pytest.fixture
def inflated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[int]:
    """The size of every chunk the zip reader inflates (and a temp dir that must stay empty)."""
    sizes: list[int] = []
    real_inflate = exports._inflate

    def counting(*args: object) -> bytes:
        chunk = real_inflate(*args)  # type: ignore[arg-type]
        sizes.append(len(chunk))
        return chunk

    monkeypatch.setattr(exports, "_inflate", counting)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return sizes


def test_a_zip_bomb_is_refused_at_the_limit_before_anything_is_inflated(
    inflated: list[int], tmp_path: Path
) -> None:
    payload = bomb(inflated_mib=24)
    assert len(payload) < 2**20
    with pytest.raises(ExportError, match=r"^bomb\.zip: unpacks to more than the 5 MiB allowed"):
        read_upload("bomb.zip", parts_of(payload, 4096), max_uncompressed_bytes=5 * 2**20)
    assert inflated == []
    assert os.listdir(tmp_path) == []  # the spooled upload is gone


def test_a_zip_bomb_whose_directory_lies_stops_at_the_size_it_declares(
    inflated: list[int], tmp_path: Path
) -> None:
    """A bomb that declares 3 MiB (under the 5 MiB limit) is inflated a chunk at a time up
    to that, and no further: then it is damaged (its CRC does not match)."""
    payload = bytearray(bomb(inflated_mib=24))
    declared = 3 * 2**20
    directory = payload.index(b"PK\x01\x02")
    payload[directory + 24 : directory + 28] = declared.to_bytes(4, "little")
    with pytest.raises(ExportError, match=r"^bomb\.zip: .* is damaged in the zip"):
        read_upload("bomb.zip", [bytes(payload)], max_uncompressed_bytes=5 * 2**20)
    assert 0 < sum(inflated) <= declared
    assert max(inflated) <= exports.CHUNK_BYTES
    assert os.listdir(tmp_path) == []


def test_a_spooled_zip_leaves_no_file_behind(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    export = read_upload("my_spotify_data.zip", parts_of(SANABIL_ZIP.read_bytes(), 2**20))
    assert export.music_plays == 22_671
    assert os.listdir(tmp_path) == []


def test_an_upload_over_the_size_limit_stops_at_the_part_that_crosses_it() -> None:
    pulled = itertools.count()
    blanks = (b" " * 1024 for _ in pulled)  # an upload that never ends
    with pytest.raises(ExportError, match="over the 1 MiB upload limit"):
        read_upload("Streaming_History_Audio_2024.json", blanks, max_upload_bytes=2**20)
    assert next(pulled) == 1025  # the part that crossed the limit was the last one read
