"""Exports of the other sources (real ones from ../shared/data): Last.fm scrobble CSVs,
ListenBrainz listens, YouTube's watch history and Apple Music's play-history CSVs become the
plays an independent reading of the same files (csv and json modules) counts, through the
same readers as Spotify's exports; damaged files are refused naming the file."""

from __future__ import annotations

import csv
import json
import zipfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.ingest.domain.exports import (
    HAND_ROWS,
    ExportError,
    ParsedExport,
    read_export,
    read_export_path,
    read_upload,
)
from services.ingest.domain.history_rows import HistoryKind
from services.ingest.domain.plays import FULL_LISTEN_MS, Play
from tests.unit.test_exports import assert_reports_add_up, zip_bytes
from tools.cli.folder_upload import EmptyFolder, folder_zipped

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
PINGW33N = SHARED_DATA / "lastfm-csv-pingw33n" / "lastfm_scrobbles.csv"
SACHAWHEELER = SHARED_DATA / "lastfm-ghan-csv-sachawheeler" / "scrobbles.csv"
KOITO = SHARED_DATA / "listenbrainz-export-koito"
EMOMERT = SHARED_DATA / "listenbrainz-api-emomert" / "listenbrainz.json"
TEN5 = SHARED_DATA / "youtube-takeout-ten5" / "watch-history.json"
TUNAEROL = SHARED_DATA / "youtube-takeout-tunaerol" / "watch-history.json"
PLAY_ACTIVITY = (
    SHARED_DATA / "apple-music-play-activity-vietvudanh" / "Apple Music Play Activity.csv"
)
TRACK_PLAY_HISTORY = (
    SHARED_DATA / "apple-music-track-play-history-hjx2020" / "Apple Music - Track Play History.csv"
)
RECENTLY_PLAYED = (
    SHARED_DATA
    / "apple-music-recently-played-brodyupton"
    / "Apple Music - Recently Played Tracks.csv"
)
EFRROWINI_2022 = SHARED_DATA / "spotify-history-efrrowini" / "Streaming_History_Audio_2022.json"


def csv_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as file:
        return list(csv.reader(file))


def csv_dicts(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as file:
        return list(csv.DictReader(file))


def as_tuples(plays: list[Play]) -> Counter[tuple[Any, ...]]:
    return Counter((play.ended_at, play.artist_name, play.track_name) for play in plays)


@pytest.fixture(scope="module")
def pingw33n() -> ParsedExport:
    return read_export_path(PINGW33N)


def test_lastfm_to_csv_scrobbles_are_stored_once_each_and_now_playing_set_aside(
    pingw33n: ParsedExport,
) -> None:
    rows = csv_rows(PINGW33N)
    assert len(rows) == 60_950 and all(len(row) == 4 for row in rows)
    now_playing = [row for row in rows if not row[3]]
    dated = [tuple(row) for row in rows if row[3]]
    distinct = set(dated)
    assert len(now_playing) == 303
    assert len(distinct) == 58_265  # 60,647 dated rows, 2,382 exact repeats

    assert pingw33n.format == "lastfm"
    (report,) = pingw33n.files
    assert report.kind is HistoryKind.LASTFM_TO_CSV
    assert (report.rows_read, report.music_plays) == (60_950, len(distinct))
    assert report.set_aside == {"the now-playing track (no date: not scrobbled yet)": 303}
    assert report.duplicates_merged == len(dated) - len(distinct)
    assert report.rejected == {}
    expected = Counter(
        (datetime.strptime(date, "%d %b %Y %H:%M").replace(tzinfo=UTC), artist, track)
        for artist, _, track, date in distinct
    )
    assert as_tuples(pingw33n.plays) == expected
    assert {play.source for play in pingw33n.plays} == {"lastfm"}
    assert {(play.ms_played, play.skipped) for play in pingw33n.plays} == {(FULL_LISTEN_MS, False)}
    assert sum(play.album_name is None for play in pingw33n.plays) == sum(
        1 for row in distinct if not row[1]
    )
    assert pingw33n.plays[-1].ended_at == datetime(2020, 11, 20, 9, 35, tzinfo=UTC)
    assert pingw33n.plays[0].ended_at.year == 2008
    assert_reports_add_up(pingw33n)


def test_a_large_csv_is_handed_over_in_batches_keeping_only_keys(
    pingw33n: ParsedExport,
) -> None:
    batches: list[int] = []
    handed: list[Play] = []

    def hand(plays: list[Play]) -> None:
        batches.append(len(plays))
        handed.extend(plays)

    parsed = read_upload(PINGW33N.name, [PINGW33N.read_bytes()], hand=hand)
    assert parsed.plays == [] and parsed.late_plays == []
    assert len(batches) > 5 and max(batches) < 2 * HAND_ROWS
    assert sorted(handed, key=lambda play: play.play_key) == sorted(
        pingw33n.plays, key=lambda play: play.play_key
    )


def test_lastfm_ghan_scrobbles_are_read_at_their_unix_time() -> None:
    rows = csv_dicts(SACHAWHEELER)
    parsed = read_export_path(SACHAWHEELER)
    (report,) = parsed.files
    assert report.kind is HistoryKind.LASTFM_GHAN
    assert (report.rows_read, report.music_plays, report.duplicates_merged) == (11_622,) * 2 + (0,)
    expected = Counter(
        (datetime.fromtimestamp(int(row["uts"]), UTC), row["artist"], row["track"]) for row in rows
    )
    assert as_tuples(parsed.plays) == expected
    # utc_time ("11 Jul 2024, 09:07", the comma quoted) is the same instant to the minute.
    for row in rows[:500]:
        shown = datetime.strptime(row["utc_time"], "%d %b %Y, %H:%M").replace(tzinfo=UTC)
        assert shown == datetime.fromtimestamp(int(row["uts"]), UTC).replace(second=0)
    assert sum(play.album_name is None for play in parsed.plays) == 39
    assert_reports_add_up(parsed)


def test_listenbrainz_export_zips_read_their_jsonl_listens() -> None:
    newer = read_export_path(KOITO / "listenbrainz_shoko1_1749780844.zip")
    assert newer.format == "listenbrainz"
    assert [report.name for report in newer.files] == ["listens/2025/6.jsonl"]
    assert newer.ignored_files == {"user.json": "not a list of listening-history rows"}
    with zipfile.ZipFile(KOITO / "listenbrainz_shoko1_1749780844.zip") as archive:
        listens = [json.loads(line) for line in archive.read("listens/2025/6.jsonl").splitlines()]
    assert len(newer.plays) == len(listens) == 5
    by_time = {play.ended_at: play for play in newer.plays}
    for listen in listens:
        play = by_time[datetime.fromtimestamp(listen["listened_at"], UTC)]
        meta = listen["track_metadata"]
        assert (play.artist_name, play.track_name, play.album_name) == (
            meta["artist_name"],
            meta["track_name"],
            meta["release_name"],
        )
        assert play.ms_played == meta["additional_info"]["duration_ms"]
        assert play.source == "listenbrainz" and play.skipped is False

    older = read_export_path(KOITO / "listenbrainz_shoko1_123456789.zip")
    assert len(older.plays) == 19
    assert {play.ended_at.year for play in older.plays} == {2013}
    assert_reports_add_up(newer)
    assert_reports_add_up(older)


def test_a_listenbrainz_api_dump_is_read_as_its_listens() -> None:
    listens = json.loads(EMOMERT.read_bytes())["listens"]
    parsed = read_export_path(EMOMERT)
    (report,) = parsed.files
    assert report.kind is HistoryKind.LISTENBRAINZ
    expected = Counter(
        (
            datetime.fromtimestamp(listen["listened_at"], UTC),
            listen["track_metadata"]["artist_name"],
            listen["track_metadata"]["track_name"],
        )
        for listen in listens
    )
    assert len(parsed.plays) == len(listens) == 100
    assert as_tuples(parsed.plays) == expected
    # No listen here carries a duration: each counts as a full listen.
    assert {play.ms_played for play in parsed.plays} == {FULL_LISTEN_MS}
    # The same listens as the older export's plain JSON list read the same.
    as_list = read_export("listens.json", json.dumps(listens).encode())
    assert as_list.plays == parsed.plays


def music_watches(entries: list[dict[str, Any]]) -> Counter[tuple[Any, ...]]:
    """The watch-history entries that are music plays, counted independently."""
    plays: Counter[tuple[Any, ...]] = Counter()
    for entry in entries:
        title = entry["title"]
        channel = (entry.get("subtitles") or [{}])[0].get("name")
        if not title.startswith("Watched ") or title.startswith("Watched http"):
            continue
        if entry["header"] == "YouTube Music" and channel:
            artist = channel.removesuffix(" - Topic")
        elif entry["header"] == "YouTube" and channel and channel.endswith(" - Topic"):
            artist = channel[: -len(" - Topic")]
        else:
            continue
        plays[(datetime.fromisoformat(entry["time"]), artist, title[len("Watched ") :])] += 1
    return plays


@pytest.mark.parametrize("path", [TEN5, TUNAEROL], ids=["ten5", "tunaerol"])
def test_youtube_watch_history_keeps_music_and_sets_the_rest_aside(path: Path) -> None:
    entries = json.loads(path.read_bytes())
    parsed = read_export_path(path)
    (report,) = parsed.files
    assert report.kind is HistoryKind.YOUTUBE_WATCHES
    assert report.rows_read == len(entries)
    expected = music_watches(entries)
    assert as_tuples(parsed.plays) == Counter(dict.fromkeys(expected, 1))
    assert report.duplicates_merged == expected.total() - len(expected)
    assert sum(report.set_aside.values()) + report.music_plays + report.duplicates_merged == len(
        entries
    )
    assert not any(
        play.artist_name.endswith(" - Topic") for play in parsed.plays if play.artist_name
    )
    assert {play.source for play in parsed.plays} == {"youtube"}
    assert_reports_add_up(parsed)


def test_youtube_music_and_topic_channel_counts_on_ten5() -> None:
    parsed = read_export_path(TEN5)
    (report,) = parsed.files
    entries = json.loads(TEN5.read_bytes())
    topic_youtube = [
        entry
        for entry in entries
        if entry["header"] == "YouTube"
        and (entry.get("subtitles") or [{}])[0].get("name", "").endswith(" - Topic")
    ]
    assert len(topic_youtube) == 490  # the data README's plain-YouTube Topic entries
    assert report.set_aside["not a watch (visits, community posts, games)"] == 33
    assert report.music_plays == len(music_watches(entries)) == 5_117


def test_apple_play_activity_uses_its_durations_and_skips() -> None:
    rows = csv_dicts(PLAY_ACTIVITY)
    parsed = read_export_path(PLAY_ACTIVITY)
    (report,) = parsed.files
    assert report.kind is HistoryKind.APPLE_PLAY_ACTIVITY
    songs = [row for row in rows if row["Artist Name"] and row["Content Name"]]
    negative = [row for row in songs if int(float(row["Play Duration Milliseconds"])) < 0]
    assert len(negative) == 58
    longest: dict[tuple[str, str, str], int] = {}
    for row in songs:
        if row in negative:
            continue
        key = (row["Event End Timestamp"], row["Artist Name"], row["Content Name"])
        longest[key] = max(longest.get(key, -1), int(float(row["Play Duration Milliseconds"])))
    assert report.rejected == {"Play Duration Milliseconds is negative": 58}
    assert sum(report.set_aside.values()) == len(rows) - len(songs) == 491
    assert len(parsed.plays) == len(longest)
    assert sorted(play.ms_played for play in parsed.plays) == sorted(longest.values())
    skipped_rows = sum(row["End Reason Type"] == "TRACK_SKIPPED_FORWARDS" for row in songs)
    skipped_plays = sum(play.skipped is True for play in parsed.plays)
    assert 0 < skipped_plays <= skipped_rows
    assert_reports_add_up(parsed)


@pytest.mark.parametrize(
    ("path", "name_column", "kind"),
    [
        (TRACK_PLAY_HISTORY, "Track Name", HistoryKind.APPLE_TRACK_PLAY_HISTORY),
        (RECENTLY_PLAYED, "Track Description", HistoryKind.APPLE_RECENTLY_PLAYED),
    ],
    ids=["track-play-history", "recently-played"],
)
def test_apple_play_histories_split_artist_and_title(
    path: Path, name_column: str, kind: HistoryKind
) -> None:
    rows = csv_dicts(path)
    parsed = read_export_path(path)
    (report,) = parsed.files
    assert report.kind is kind
    time_column = (
        "Last Played Date" if kind is HistoryKind.APPLE_TRACK_PLAY_HISTORY else ("Last Modified")
    )
    named = [row for row in rows if " - " in row[name_column]]
    distinct = {(row[time_column], *row[name_column].split(" - ", 1)) for row in named}
    assert len(parsed.plays) == len(distinct)
    assert report.duplicates_merged == len(named) - len(distinct)
    assert sum(report.set_aside.values()) == len(rows) - len(named)
    assert {play.source for play in parsed.plays} == {"apple_music"}
    assert_reports_add_up(parsed)


def test_a_folder_or_zip_of_several_sources_reads_each(tmp_path: Path) -> None:
    members = {
        "spotify/Streaming_History_Audio_2022.json": EFRROWINI_2022.read_bytes(),
        "lastfm/scrobbles.csv": SACHAWHEELER.read_bytes(),
        "Takeout/YouTube and YouTube Music/history/watch-history.json": TUNAEROL.read_bytes(),
        "Apple/Apple Music - Recently Played Tracks.csv": RECENTLY_PLAYED.read_bytes(),
        "Apple/Apple Music Library Tracks.json": b'{"Track Identifier": 1}',
        "Apple/Apple Music - Favorites.csv": b"Favorite Type,Item Reference\nSONG,1\n",
    }
    for name, content in members.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(content)
    from_folder = read_export_path(tmp_path)
    from_zip = read_export("everything.zip", zip_bytes(members))
    assert from_zip.plays == from_folder.plays
    assert from_folder.format == "extended+apple_music+lastfm+youtube"
    alone = [
        read_export_path(tmp_path / name)
        for name in members
        if not name.startswith("Apple/Apple Music ") or "Recently" in name
    ]
    assert len(from_folder.plays) == sum(len(parsed.plays) for parsed in alone)
    assert set(from_folder.ignored_files) == {
        "Apple/Apple Music Library Tracks.json",
        "Apple/Apple Music - Favorites.csv",
    }
    assert_reports_add_up(from_folder)

    # The CLI's upload of the same folder: one zip, read the same way.
    with folder_zipped(tmp_path) as zipped:
        assert zipped.name == f"{tmp_path.name}.zip"
        assert read_export_path(zipped).plays == from_folder.plays
    assert not zipped.exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmptyFolder, match="no JSON or CSV file"), folder_zipped(tmp_path / "empty"):
        pass


def with_row(path: Path, index: int, row: str) -> bytes:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[index] = row + "\n"
    return "".join(lines).encode()


@pytest.mark.parametrize(
    ("name", "payload", "message"),
    [
        (
            "plays.csv",
            b"when,who,what\n2024-01-01,A,B\n",
            r"^plays\.csv: a CSV file whose columns \(when, who, what\) are no listening history",
        ),
        (
            "lastfm_scrobbles.csv",
            with_row(PINGW33N, 40, "Biome,Kora,Let Me,yesterday at noon"),
            r"^lastfm_scrobbles\.csv: row 41: the date 'yesterday at noon' is not a Last\.fm date",
        ),
        (
            "lastfm_scrobbles.csv",
            with_row(PINGW33N, 7, "Biome,Kora,Let Me,31 Foo 2020 09:35"),
            r"^lastfm_scrobbles\.csv: row 8: the date '31 Foo 2020 09:35'",
        ),
        (
            "scrobbles.csv",
            with_row(SACHAWHEELER, 3, '"soon","11 Jul 2024, 09:07","A","","B","","C",""'),
            r"^scrobbles\.csv: row 4: uts 'soon' is not a time in Unix seconds",
        ),
        (
            "scrobbles.csv",
            b'"uts","artist","track"\n"1720688852","A","B"\n',
            r"^scrobbles\.csv: the header lacks album",
        ),
        (
            "listenbrainz.json",
            json.dumps({"listens": [{"listened_at": "today", "track_metadata": {}}]}).encode(),
            r"^listenbrainz\.json: row 1: listened_at is missing or not a time",
        ),
        (
            "listens.jsonl",
            b'{"listened_at": 1, "track_metadata": {"artist_name": "A"}}\n'
            b'{"listened_at": 2, "track_metadata": {"artist_name": "A"}}\n',
            r"^listens\.jsonl: row 1: track_metadata lacks artist_name or track_name",
        ),
        (
            "search-history.json",
            json.dumps(
                [
                    {
                        "header": "YouTube",
                        "title": "Searched for twice",
                        "time": "2022-04-01T07:59:28.986Z",
                        "products": ["YouTube"],
                        "activityControls": ["YouTube search history"],
                    }
                ]
            ).encode(),
            r"^search-history\.json: a Google Takeout activity file of YouTube search history",
        ),
        (
            "MyActivity.json",
            json.dumps(
                [
                    {
                        "header": "Maps",
                        "title": "Viewed Lisbon",
                        "time": "2022-04-01T07:59:28.986Z",
                        "products": ["Maps"],
                        "activityControls": ["Web & App Activity"],
                    }
                ]
            ).encode(),
            r"^MyActivity\.json: a Google Takeout activity file of Web & App Activity, not",
        ),
        (
            "watch-history.json",
            json.dumps(
                [{"header": "YouTube Music", "title": "Watched A", "time": "last week"}]
            ).encode(),
            r"^watch-history\.json: row 1: the time 'last week' is not a date and time",
        ),
        ("latin.csv", "Björk,Post,Army of Me,20 Nov 2020 09:35\n".encode("latin-1"), "not UTF-8"),
        ("quote.csv", b'a,b,c,d\n"x"y,b,c,d\n', r"^quote\.csv is not well-formed CSV"),
        (
            "lastfm_scrobbles.csv",
            with_row(PINGW33N, 9, "Biome,Kora,Let Me,extra,20 Nov 2020 09:35"),
            r"^lastfm_scrobbles\.csv: row 10: 5 columns where lastfm-to-csv writes 4",
        ),
    ],
)
def test_bad_files_of_other_sources_are_refused_naming_the_file(
    name: str, payload: bytes, message: str
) -> None:
    with pytest.raises(ExportError, match=message) as refused:
        read_export(name, payload)
    assert "Traceback" not in str(refused.value)


def test_a_zip_with_one_good_and_one_broken_file_names_the_broken_one() -> None:
    broken = with_row(PINGW33N, 100, "Biome,Kora,Let Me,20 Nov 2020 25:99")
    members = {"good/scrobbles.csv": SACHAWHEELER.read_bytes(), "bad/lastfm.csv": broken}
    handed: list[int] = []
    with pytest.raises(ExportError, match=r"^history\.zip: bad/lastfm\.csv: row 101: the date"):
        read_export("history.zip", zip_bytes(members), hand=lambda plays: handed.append(1))
    # The good file's plays were handed over before the broken one failed: the store drops
    # them with the rest (one transaction), as for a broken Spotify member.
    assert handed


def test_a_takeout_file_of_another_product_inside_a_zip_is_set_aside() -> None:
    search = [
        {
            "header": "YouTube",
            "title": "Searched for twice",
            "time": "2022-04-01T07:59:28.986Z",
            "products": ["YouTube"],
            "activityControls": ["YouTube search history"],
        }
    ]
    parsed = read_export(
        "takeout.zip",
        zip_bytes(
            {
                "Takeout/YouTube/history/watch-history.json": TUNAEROL.read_bytes(),
                "Takeout/YouTube/history/search-history.json": json.dumps(search).encode(),
            }
        ),
    )
    assert parsed.format == "youtube"
    assert parsed.ignored_files == {
        "Takeout/YouTube/history/search-history.json": (
            "Google activity of YouTube search history, not watch history"
        )
    }


def test_scrobbles_dated_before_lastfm_are_rejected_by_reason() -> None:
    rows = "Biome,Kora,Let Me,20 Nov 2020 09:35\nBiome,Kora,Kitemare,01 Jan 1970 00:00\n"
    parsed = read_export("lastfm.csv", rows.encode())
    assert parsed.rejected == {"dated before Last.fm existed": 1}
    assert len(parsed.plays) == 1


def test_files_are_recognised_by_content_not_name() -> None:
    scrobbles = read_export("export.txt", PINGW33N.read_bytes())
    assert scrobbles.files[0].kind is HistoryKind.LASTFM_TO_CSV
    with zipfile.ZipFile(KOITO / "listenbrainz_shoko1_1749780844.zip") as archive:
        lines = archive.read("listens/2025/6.jsonl")
    renamed = read_export("listens.json", lines)  # JSON Lines under a .json name
    assert renamed.files[0].kind is HistoryKind.LISTENBRAINZ and len(renamed.plays) == 5
    history = read_export("history.csv", TUNAEROL.read_bytes())  # JSON under a .csv name
    assert history.files[0].kind is HistoryKind.YOUTUBE_WATCHES


def test_a_mixed_zip_handed_over_in_batches_stores_what_a_whole_parse_keeps() -> None:
    """Spotify's account data (superseded by its extended history), Last.fm and YouTube in
    one zip, parsed with `hand` as ingest does: handed - withdrawn + late is every play."""
    ryanpj2 = SHARED_DATA / "spotify-account-ryanpj2" / "StreamingHistory_music_2.json"
    members = {
        "a/StreamingHistory_music_2.json": ryanpj2.read_bytes(),
        "b/Streaming_History_Audio_2022.json": EFRROWINI_2022.read_bytes(),
        "c/lastfm_scrobbles.csv": PINGW33N.read_bytes(),
        "d/watch-history.json": TEN5.read_bytes(),
    }
    payload = zip_bytes(members)
    whole = read_export("mixed.zip", payload)
    handed: dict[str, Play] = {}

    def hand(plays: list[Play]) -> None:
        handed.update((play.play_key, play) for play in plays)

    streamed = read_export("mixed.zip", payload, hand=hand)
    for key in streamed.withdrawn_keys:
        del handed[key]
    handed.update((play.play_key, play) for play in streamed.late_plays)
    assert sorted(handed) == sorted(play.play_key for play in whole.plays)
    assert whole.format == streamed.format == "extended+lastfm+youtube"
    assert "a/StreamingHistory_music_2.json" in whole.ignored_files
    assert len(whole.plays) == whole.music_plays == 34 + 58_265 + 5_117


def test_other_json_lines_of_a_listenbrainz_zip_are_set_aside() -> None:
    with zipfile.ZipFile(KOITO / "listenbrainz_shoko1_1749780844.zip") as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    feedback = b'{"recording_mbid": "08e8f55b-f1a4-46b8-b2d1-fab4c592165c", "score": 1}\n' * 2
    parsed = read_export("listenbrainz.zip", zip_bytes({**members, "feedback.jsonl": feedback}))
    assert len(parsed.plays) == 5
    assert parsed.ignored_files["feedback.jsonl"] == "JSON Lines that are not listens"
    with pytest.raises(ExportError, match=r"^feedback\.jsonl: JSON Lines that are not"):
        read_export("feedback.jsonl", feedback)


def test_a_csv_with_no_line_breaks_is_refused_not_held(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("services.ingest.domain.csv_rows.MAX_LINE_CHARS", 1000)
    endless = b"Biome,Kora,Let Me," + b"x" * 5000
    parts = [endless[start : start + 100] for start in range(0, len(endless), 100)]
    with pytest.raises(ExportError, match=r"^endless\.csv is not well-formed CSV at row 1: a line"):
        read_upload("endless.csv", parts)


def test_the_newer_play_activity_layout_is_named_not_misread() -> None:
    newer = (
        b"Song Name,Event End Timestamp,Play Duration Milliseconds,End Reason Type\n"
        b"Boys,2016-05-29T01:24:23.210Z,7873,NATURAL_END_OF_TRACK\n"
    )
    with pytest.raises(ExportError, match=r"^Apple Music Play Activity\.csv: Apple's newer Play"):
        read_export("Apple Music Play Activity.csv", newer)
    parsed = read_export(
        "apple.zip",
        zip_bytes(
            {
                "Apple Music Play Activity.csv": newer,
                "Apple Music - Track Play History.csv": TRACK_PLAY_HISTORY.read_bytes(),
            }
        ),
    )
    assert parsed.files[0].kind is HistoryKind.APPLE_TRACK_PLAY_HISTORY
    assert "newer Play Activity layout" in parsed.ignored_files["Apple Music Play Activity.csv"]
