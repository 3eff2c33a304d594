"""Spotify listening-history exports (real ones from ../shared/data) become the right plays."""

from __future__ import annotations

import io
import json
import zipfile
from collections import defaultdict
from datetime import UTC
from functools import cache
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.ingest.domain.exports import ExportError, ParsedExport, read_export, read_export_path
from services.ingest.domain.history_rows import HistoryKind
from services.ingest.domain.plays import COPY_COLUMNS, Play

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
SANABIL_ZIP = SHARED_DATA / "spotify-history-sanabil" / "my_spotify_data.zip"
EFRROWINI = SHARED_DATA / "spotify-history-efrrowini"
RYANPJ2 = SHARED_DATA / "spotify-account-ryanpj2"


def zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@cache
def sanabil_members() -> dict[str, bytes]:
    with zipfile.ZipFile(SANABIL_ZIP) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def longest_by_key(rows: list[dict[str, Any]], key_fields: tuple[str, ...], ms: str) -> dict:
    longest: dict[tuple[Any, ...], int] = defaultdict(lambda: -1)
    for row in rows:
        key = tuple(row[field] for field in key_fields)
        longest[key] = max(longest[key], row[ms])
    return dict(longest)


def assert_reports_add_up(parsed: ParsedExport) -> None:
    for report in parsed.files:
        accounted = (
            report.music_plays
            + report.duplicates_merged
            + report.podcasts
            + report.audiobooks
            + sum(report.rejected.values())
            + sum(report.set_aside.values())
        )
        assert accounted == report.rows_read, report
    assert parsed.music_plays == len(parsed.plays)
    assert [play.ended_at for play in parsed.plays] == sorted(
        play.ended_at for play in parsed.plays
    )
    assert len({play.play_key for play in parsed.plays}) == len(parsed.plays)


@pytest.fixture(scope="module")
def sanabil() -> ParsedExport:
    return read_export_path(SANABIL_ZIP)


@pytest.fixture(scope="module")
def efrrowini() -> ParsedExport:
    return read_export_path(EFRROWINI)


def test_sanabil_zip_gives_one_play_per_distinct_stream(sanabil: ParsedExport) -> None:
    assert sanabil.format == "extended"
    assert len(sanabil.plays) == 22_671
    by_file = {Path(report.name).name: report for report in sanabil.files}
    assert set(by_file) == {
        "Streaming_History_Audio_2021-2024_0.json",
        "Streaming_History_Audio_2024-2025_1.json",
        "Streaming_History_Video_2024.json",
    }
    assert by_file["Streaming_History_Audio_2021-2024_0.json"].rows_read == 16_132
    assert by_file["Streaming_History_Audio_2024-2025_1.json"].rows_read == 6_545
    assert by_file["Streaming_History_Video_2024.json"].rows_read == 25
    assert sanabil.rows_read == 22_702
    assert sanabil.duplicates_merged == 22_702 - 22_671
    assert sanabil.podcasts == sanabil.audiobooks == 0
    assert sanabil.rejected == {}
    assert sanabil.ignored_files == {}
    assert_reports_add_up(sanabil)


def test_sanabil_keeps_the_longest_row_of_each_stream(sanabil: ParsedExport) -> None:
    rows = [row for content in sanabil_members().values() for row in json.loads(content)]
    longest = longest_by_key(rows, ("ts", "spotify_track_uri"), "ms_played")
    assert {play.play_key: play.ms_played for play in sanabil.plays} == {
        f"{ts}|{track_uri}": ms_played for (ts, track_uri), ms_played in longest.items()
    }
    # The known doubled stream (same ts and track, 0 ms and 29,753 ms) keeps the real listen.
    doubled = next(
        play
        for play in sanabil.plays
        if play.play_key == "2025-02-27T09:50:31Z|spotify:track:1GP8VW5Wk2w2obkWjGCGXd"
    )
    assert (doubled.ms_played, doubled.reason_end) == (29_753, "trackdone")


def test_sanabil_plays_carry_the_export_fields(sanabil: ParsedExport) -> None:
    first = sanabil.plays[0]
    assert first == Play(
        ended_at=first.ended_at,
        ms_played=9103,
        track_name="Dastaan",
        artist_name="Abdullah Qureshi",
        album_name="Dastaan",
        track_uri="spotify:track:6PWM8K2KJvWGZm1qbKCQpQ",
        skipped=True,
        reason_start="clickrow",
        reason_end="endplay",
        shuffle=True,
        offline=True,
        incognito=False,
        platform="android",
        country="PK",
        source="extended",
    )
    assert first.ended_at.isoformat() == "2021-09-23T09:28:29+00:00"
    assert first.play_key == "2021-09-23T09:28:29Z|spotify:track:6PWM8K2KJvWGZm1qbKCQpQ"
    assert COPY_COLUMNS[0] == "play_key"
    assert set(COPY_COLUMNS) == {*Play.__struct_fields__, "play_key"}
    row = dict(zip(COPY_COLUMNS, first.copy_row(), strict=True))
    assert row["play_key"] == first.play_key and row["ms_played"] == 9103
    assert all(play.ended_at.tzinfo is UTC for play in sanabil.plays)
    assert sum(play.ms_played == 0 for play in sanabil.plays) > 400
    assert sum(play.incognito is True for play in sanabil.plays) > 0


def test_efrrowini_folder_matches_an_independent_count(efrrowini: ParsedExport) -> None:
    files = sorted(EFRROWINI.glob("*.json"))
    rows_by_file = {path.name: json.loads(path.read_bytes()) for path in files}
    rows = [row for file_rows in rows_by_file.values() for row in file_rows]
    assert [row["ts"] for row in rows] != sorted(row["ts"] for row in rows)  # really unsorted
    music_keys = {(row["ts"], row["spotify_track_uri"]) for row in rows if row["spotify_track_uri"]}
    assert efrrowini.format == "extended"
    assert len(efrrowini.plays) == len(music_keys)
    audio_podcasts = sum(report.podcasts for report in efrrowini.files if "_Audio_" in report.name)
    # The data README's 49 podcast rows are in the audio files; the 2026 video file adds 13
    # video-podcast episodes, which are set aside as podcasts too.
    assert audio_podcasts == 49
    assert efrrowini.podcasts == 49 + 13
    assert not any(play.track_uri is None for play in efrrowini.plays)
    assert_reports_add_up(efrrowini)


def test_account_export_counts_distinct_streams_and_sets_podcasts_aside() -> None:
    parsed = read_export_path(RYANPJ2)
    music_rows = [
        row
        for path in sorted(RYANPJ2.glob("StreamingHistory_music_*.json"))
        for row in json.loads(path.read_bytes())
    ]
    longest = longest_by_key(music_rows, ("endTime", "artistName", "trackName"), "msPlayed")
    assert parsed.format == "account"
    assert len(parsed.plays) == len(longest) == 24_262
    assert parsed.podcasts == 112
    podcast_report = next(report for report in parsed.files if "podcast" in report.name)
    assert podcast_report.kind is HistoryKind.ACCOUNT_PODCAST
    assert podcast_report.music_plays == 0
    assert all(play.source == "account" and play.track_uri is None for play in parsed.plays)
    assert all(play.play_key.startswith("acct|") for play in parsed.plays)
    unknown = [play for play in parsed.plays if play.artist_name is None]
    assert unknown and all(play.track_name is None for play in unknown)
    kept_ms = sorted(play.ms_played for play in parsed.plays)
    assert kept_ms == sorted(longest.values())
    first = parsed.plays[0]
    assert first.play_key == f"acct|{first.ended_at:%Y-%m-%dT%H:%M}Z|{first.artist_name}|" + (
        first.track_name or ""
    )
    assert_reports_add_up(parsed)


def test_zip_folder_and_single_files_agree(
    tmp_path: Path, efrrowini: ParsedExport, sanabil: ParsedExport
) -> None:
    members = {path.name: path.read_bytes() for path in sorted(EFRROWINI.glob("*.json"))}
    from_zip = read_export("efrrowini.zip", zip_bytes(members))
    assert from_zip.plays == efrrowini.plays

    # One file at a time, merged the same way, gives the same plays as the whole folder.
    merged: dict[str, Play] = {}
    for name, content in members.items():
        for play in read_export(name, content).plays:
            kept = merged.get(play.play_key)
            if kept is None or play.ms_played > kept.ms_played:
                merged[play.play_key] = play
    assert sorted(merged.values(), key=lambda play: play.play_key) == sorted(
        efrrowini.plays, key=lambda play: play.play_key
    )

    # The Spotify zip unpacked into a folder reads the same as the zip itself.
    for name, content in sanabil_members().items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(content)
    assert read_export_path(tmp_path).plays == sanabil.plays


def test_other_files_in_the_zip_are_ignored_and_listed() -> None:
    history = "Spotify Extended Streaming History/Streaming_History_Audio_2022.json"
    members = {
        history: (EFRROWINI / "Streaming_History_Audio_2022.json").read_bytes(),
        "Spotify Extended Streaming History/ReadMeFirst_ExtendedStreamingHistory.pdf": b"%PDF-1.4",
        "Spotify Account Data/Userdata.json": b'{"username": "listener", "country": "PK"}',
        "Spotify Account Data/Follow.json": b'[{"followerCount": 3}]',
        "Spotify Account Data/StreamingHistory_music_0.json": (
            RYANPJ2 / "StreamingHistory_music_2.json"
        ).read_bytes(),
    }
    parsed = read_export("my_spotify_data.zip", zip_bytes(members))
    assert [report.name for report in parsed.files] == [history]
    assert len(parsed.plays) == 34
    assert set(parsed.ignored_files) == {
        "Spotify Extended Streaming History/ReadMeFirst_ExtendedStreamingHistory.pdf",
        "Spotify Account Data/Userdata.json",
        "Spotify Account Data/Follow.json",
        "Spotify Account Data/StreamingHistory_music_0.json",
    }
    assert (
        "superseded" in parsed.ignored_files["Spotify Account Data/StreamingHistory_music_0.json"]
    )


def test_truncated_json_rejects_the_whole_import() -> None:
    content = (EFRROWINI / "Streaming_History_Audio_2023.json").read_bytes()
    half = content[: len(content) // 2]
    with pytest.raises(ExportError, match=r"Streaming_History_Audio_2023\.json ends early") as err:
        read_export("Streaming_History_Audio_2023.json", half)
    assert "line" in str(err.value) and "column" in str(err.value)
    assert "spotify.com/account/privacy" in str(err.value)

    members = {
        "Streaming_History_Audio_2022.json": (
            EFRROWINI / "Streaming_History_Audio_2022.json"
        ).read_bytes(),
        "Streaming_History_Audio_2023.json": half,
    }
    with pytest.raises(ExportError, match=r"^history\.zip: Streaming_History_Audio_2023\.json"):
        read_export("history.zip", zip_bytes(members))


@pytest.mark.parametrize(
    ("name", "payload", "message"),
    [
        ("readme.zip", zip_bytes({"README.txt": b"hello"}), "no Spotify listening history inside"),
        ("empty.zip", zip_bytes({}), "an empty zip"),
        ("noise.bin", bytes(range(256)) * 8, "neither a zip nor a JSON file"),
        ("user.json", b'{"ts": "2024-01-01T00:00:00Z"}', "a JSON dict, not a list"),
        ("empty.json", b"[]", "no listening-history rows"),
        ("numbers.json", b"[1, 2, 3]", "not Spotify listening history"),
        (
            "broken.json",
            b'[{"ts": 1,}]',
            r"broken\.json is not valid JSON: .*\(line 1, column 11\)",
        ),
        ("latin.json", b'[{"endTime": "\xe9"}]', "not UTF-8 text"),
        ("cut.zip", zip_bytes({"a.json": b"[]" * 500})[:100], "a damaged zip"),
    ],
)
def test_bad_uploads_say_what_is_wrong(name: str, payload: bytes, message: str) -> None:
    with pytest.raises(ExportError, match=message) as err:
        read_export(name, payload)
    assert str(err.value).startswith(name)


def test_oversized_upload_is_refused_before_parsing() -> None:
    payload = SANABIL_ZIP.read_bytes()
    with pytest.raises(ExportError, match="over the 1 MiB upload limit"):
        read_export("my_spotify_data.zip", payload, max_upload_bytes=1024 * 1024)


def test_zip_bomb_is_stopped_at_the_uncompressed_limit() -> None:
    row = b'{"ts": "2024-01-01T00:00:00Z", "ms_played": 1, "spotify_track_uri": "spotify:track:x"},'
    bomb = b"[" + row * 60_000 + row[:-1] + b"]"  # ~5 MiB that deflates to a few KiB
    payload = zip_bytes({"Streaming_History_Audio_2024.json": bomb})
    assert len(payload) < len(bomb) // 100
    with pytest.raises(ExportError, match=r"unpacks to more than the 1 MiB allowed"):
        read_export("bomb.zip", payload, max_uncompressed_bytes=1024 * 1024)


def test_path_traversal_members_are_never_read() -> None:
    history = (EFRROWINI / "Streaming_History_Audio_2022.json").read_bytes()
    members = {
        "../../etc/Streaming_History_Audio_2023.json": (
            EFRROWINI / "Streaming_History_Audio_2023.json"
        ).read_bytes(),
        "/abs/Streaming_History_Audio_2024.json": history,
        "Spotify Extended Streaming History/Streaming_History_Audio_2022.json": history,
    }
    parsed = read_export("sneaky.zip", zip_bytes(members))
    assert len(parsed.plays) == 34
    assert set(parsed.ignored_files) == {
        "../../etc/Streaming_History_Audio_2023.json",
        "/abs/Streaming_History_Audio_2024.json",
    }
    assert all("unsafe path" in reason for reason in parsed.ignored_files.values())
    with pytest.raises(ExportError, match="no Spotify listening history inside"):
        read_export("only-sneaky.zip", zip_bytes({"../Streaming_History_Audio.json": history}))


def test_rows_with_wrong_types_are_rejected_one_by_one() -> None:
    rows = json.loads((EFRROWINI / "Streaming_History_Audio_2022.json").read_bytes())
    damage: list[dict[str, Any]] = [
        {"ms_played": "abc"},
        {"ms_played": True},
        {"ms_played": -5},
        {"ts": "yesterday"},
        {"ts": None},
        {"skipped": "yes"},
        {"master_metadata_track_name": 42},
        {"spotify_track_uri": None, "spotify_episode_uri": None},
    ]
    for index, change in enumerate(damage):
        rows[index] = {**rows[index], **change}
    rows.append("not a row")
    parsed = read_export("damaged.json", json.dumps(rows).encode())
    assert parsed.rejected == {
        "ms_played missing or not a whole number": 2,
        "ms_played is negative": 1,
        "ts is not a date and time": 1,
        "ts missing or not text": 1,
        "skipped is not true/false": 1,
        "master_metadata_track_name is not text": 1,
        "no track, episode or audiobook URI": 1,
        "row is not a JSON object": 1,
    }
    intact = {(row["ts"], row["spotify_track_uri"]) for row in rows[len(damage) : -1]}
    assert len(parsed.plays) == len(intact)
    assert_reports_add_up(parsed)


def test_quirky_rows_are_read() -> None:
    base = {
        "ts": "2024-03-01T10:00:00Z",
        "ms_played": 0,
        "spotify_track_uri": "spotify:track:a",
        "skipped": None,
        "reason_end": None,
        "offline_timestamp": 1709287200000,
    }
    rows = [
        base,
        {**base, "ts": "2024-03-01T09:00:00.250Z", "offline_timestamp": 1709283600},
        {**base, "ts": "2024-03-01T12:00:00+02:00", "ms_played": 5},
        {**base, "spotify_track_uri": None, "spotify_episode_uri": "spotify:episode:e"},
        {**base, "spotify_track_uri": None, "audiobook_chapter_uri": "spotify:chapter:c"},
    ]
    parsed = read_export("quirks.json", json.dumps(rows).encode())
    assert (parsed.podcasts, parsed.audiobooks, parsed.rejected) == (1, 1, {})
    # 12:00+02:00 is 10:00Z: the same stream as the first row, merged keeping 5 ms.
    assert [(play.play_key, play.ms_played) for play in parsed.plays] == [
        ("2024-03-01T09:00:00Z|spotify:track:a", 0),
        ("2024-03-01T10:00:00Z|spotify:track:a", 5),
    ]
    assert parsed.plays[0].ended_at.microsecond == 250_000
    assert parsed.plays[1].skipped is None and parsed.plays[1].reason_end is None


_TRACK_URIS = ("spotify:track:1", "spotify:track:2", "spotify:track:3")
_extended_rows = st.lists(
    st.fixed_dictionaries(
        {
            "ts": st.builds(
                "2024-05-0{}T12:00:{:02d}{}Z".format,
                st.integers(1, 2),
                st.integers(0, 3),
                st.sampled_from(["", ".5"]),
            ),
            "ms_played": st.integers(0, 400_000),
            "spotify_track_uri": st.sampled_from(_TRACK_URIS),
            "master_metadata_track_name": st.sampled_from(["Dastaan", None]),
            "skipped": st.sampled_from([True, False, None]),
            "shuffle": st.booleans(),
        }
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=_extended_rows, data=st.data())
def test_one_play_per_key_with_the_longest_listen(rows: list[dict], data: st.DataObject) -> None:
    duplicates = data.draw(st.lists(st.sampled_from(rows), max_size=10))
    listens = data.draw(st.permutations(rows + duplicates))
    parsed = read_export("property.json", json.dumps(listens).encode())
    # A stream's key is its end time to the second plus its track.
    longest: defaultdict[str, int] = defaultdict(lambda: -1)
    for row in listens:
        key = f"{row['ts'][:19]}Z|{row['spotify_track_uri']}"
        longest[key] = max(longest[key], row["ms_played"])
    assert len(parsed.plays) == len(longest)
    assert {play.play_key: play.ms_played for play in parsed.plays} == longest
    assert parsed.duplicates_merged == len(listens) - len(longest)


@settings(max_examples=30, deadline=None)
@given(
    rows=st.lists(
        st.fixed_dictionaries(
            {
                "endTime": st.sampled_from(["2023-01-26 05:11", "2023-01-26 05:12"]),
                "artistName": st.sampled_from(["SZA", "Unknown Artist"]),
                "trackName": st.sampled_from(["Kill Bill", "Unknown Track"]),
                "msPlayed": st.integers(0, 300_000),
            }
        ),
        min_size=1,
        max_size=30,
    )
)
def test_account_rows_merge_by_minute_artist_and_track(rows: list[dict]) -> None:
    parsed = read_export("StreamingHistory_music_0.json", json.dumps(rows).encode())
    longest = longest_by_key(rows, ("endTime", "artistName", "trackName"), "msPlayed")
    assert len(parsed.plays) == len(longest)
    assert sorted(play.ms_played for play in parsed.plays) == sorted(longest.values())


def test_older_export_layouts_are_recognised_by_their_rows() -> None:
    """The 21-key `endsong_N.json` and the `StreamingHistoryN.json` of older exports."""
    rows = json.loads((EFRROWINI / "Streaming_History_Audio_2023.json").read_bytes())
    old_schema = [
        {
            "username": "listener",
            "user_agent_decrypted": None,
            "ip_addr_decrypted": row["ip_addr"],
            **{
                key: value
                for key, value in row.items()
                if not key.startswith("audiobook") and key != "ip_addr"
            },
        }
        for row in rows
    ]
    assert {len(row) for row in old_schema} == {21}
    endsong = read_export(
        "my_spotify_data.zip",
        zip_bytes(
            {
                "MyData/endsong_0.json": json.dumps(old_schema).encode(),
                "MyData/Read_Me_First.pdf": b"%PDF",
            }
        ),
    )
    newer = read_export("Streaming_History_Audio_2023.json", json.dumps(rows).encode())
    assert endsong.format == "extended"
    assert endsong.plays == newer.plays and len(endsong.plays) == 1_455
    assert endsong.podcasts == 13

    music = (RYANPJ2 / "StreamingHistory_music_2.json").read_bytes()
    account = read_export(
        "my_spotify_data.zip", zip_bytes({"MyData/StreamingHistory0.json": music})
    )
    assert account.format == "account"
    assert account.plays == read_export("StreamingHistory_music_2.json", music).plays


@pytest.mark.parametrize("history", ["sanabil", "efrrowini", "ryanpj2"])
def test_every_key_read_off_a_raw_timestamp_is_the_key_the_play_computes(
    history: str, sanabil: ParsedExport, efrrowini: ParsedExport
) -> None:
    parsed = {"sanabil": sanabil, "efrrowini": efrrowini}.get(history) or read_export_path(RYANPJ2)
    fresh = [msgspec.structs.replace(play) for play in parsed.plays]  # nothing computed yet
    assert all("play_key" not in play.__dict__ for play in fresh)
    assert [play.play_key for play in parsed.plays] == [play.play_key for play in fresh]
    assert len({play.play_key for play in parsed.plays}) == len(parsed.plays)
