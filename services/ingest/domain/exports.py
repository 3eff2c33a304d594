"""Read a Spotify listening-history export (zip, folder or one JSON file) into deduplicated plays.

All-or-nothing rule: a payload that is not a zip/JSON, or any JSON file in it that fails to parse,
rejects the whole import (ExportError, nothing stored); inside valid files, rows with wrong value
types or implausible dates (see `plausible`) are rejected one by one, counted by reason in the
file's report, and the good rows are kept.
"""

from __future__ import annotations

import io
import json
import lzma
import queue
import threading
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import attrgetter
from pathlib import Path, PurePosixPath
from typing import Any, Literal, TypeVar, cast

from services.ingest.domain.history_rows import (
    ExtendedRow,
    HistoryKind,
    NotMusic,
    RowRejected,
    account_row_play,
    extended_row_play,
    history_kind,
    typed_extended_play,
    typed_extended_rows,
)
from services.ingest.domain.plausible import PlayWindow, play_window
from services.ingest.domain.plays import Play

ExportFormat = Literal["extended", "account"]

MAX_UPLOAD_BYTES = 512 * 1024 * 1024
# A real export unpacks to ~1 KB per stream: 1 GiB is decades of listening, and stops zip bombs.
MAX_UNCOMPRESSED_BYTES = 1024 * 1024 * 1024

_HOW_TO_GET_IT = "download the export again from spotify.com/account/privacy"
_EXPECTED_FILES = "expected Streaming_History_Audio_*.json or StreamingHistory_music_*.json"


class ExportError(ValueError):
    """An upload that cannot be imported; the message names the file, the fault and the remedy."""


@dataclass(frozen=True, slots=True)
class FileReport:
    """What one history file held: rows_read = music_plays + duplicates_merged + podcasts
    + audiobooks + sum(rejected.values())."""

    name: str
    kind: HistoryKind
    rows_read: int
    music_plays: int
    duplicates_merged: int
    podcasts: int
    audiobooks: int
    rejected: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ParsedExport:
    """The plays of one export, sorted by `ended_at`, with a report per history file.

    When the parse handed plays over file by file (`read_export(..., hand=...)`), `late_plays`
    are the plays the consumer has not been given yet and `withdrawn_keys` the keys of handed
    plays a later file superseded (a longer row of the same stream): handed - withdrawn + late
    = `plays`. Without `hand`, `late_plays` is every play and nothing is withdrawn.
    """

    format: ExportFormat
    plays: list[Play]
    files: list[FileReport]
    ignored_files: dict[str, str]
    handed_late: list[Play] | None = None  # None: nothing was handed over
    withdrawn_keys: list[str] = field(default_factory=list)

    @property
    def late_plays(self) -> list[Play]:
        return self.plays if self.handed_late is None else self.handed_late

    @property
    def rows_read(self) -> int:
        return sum(report.rows_read for report in self.files)

    @property
    def music_plays(self) -> int:
        return sum(report.music_plays for report in self.files)

    @property
    def duplicates_merged(self) -> int:
        return sum(report.duplicates_merged for report in self.files)

    @property
    def podcasts(self) -> int:
        return sum(report.podcasts for report in self.files)

    @property
    def audiobooks(self) -> int:
        return sum(report.audiobooks for report in self.files)

    @property
    def rejected(self) -> dict[str, int]:
        reasons: Counter[str] = Counter()
        for report in self.files:
            reasons.update(report.rejected)
        return dict(reasons)


def read_export(
    name: str,
    payload: bytes,
    *,
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
    max_uncompressed_bytes: int = MAX_UNCOMPRESSED_BYTES,
    hand: Callable[[list[Play]], None] | None = None,
    requested_at: datetime | None = None,
) -> ParsedExport:
    """Parse an uploaded export: Spotify's zip as delivered, or one of its JSON files.

    `hand`, when given, receives the extended history's plays file by file as each file is
    read (final within their file), so they can be stored while the next file is parsed; see
    `ParsedExport.late_plays` for what is left at the end. An error in a later file still
    raises ExportError: the consumer must then drop what it was handed (all or nothing).

    `requested_at` is when the import was requested: plays more than a day after it are
    rejected as dated in the future. Ingest passes the request's time; None (a file read
    from disk by a tool) means now."""
    dates = _Windows.of(requested_at)
    if len(payload) > max_upload_bytes:
        raise ExportError(
            f"{name}: {_mebibytes(len(payload))} is over the {_mebibytes(max_upload_bytes)} upload "
            "limit; upload my_spotify_data.zip as Spotify sent it, or its JSON files one by one"
        )
    if payload.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _assemble(name, _zip_documents(name, payload, max_uncompressed_bytes), dates, hand)
    if payload.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"[", b"{"):
        return _read_single_json(name, payload, dates, hand)
    raise ExportError(
        f"{name}: neither a zip nor a JSON file; upload my_spotify_data.zip as Spotify sent it "
        f"({_EXPECTED_FILES} inside), or {_HOW_TO_GET_IT}"
    )


def read_export_path(
    path: Path,
    *,
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
    max_uncompressed_bytes: int = MAX_UNCOMPRESSED_BYTES,
    requested_at: datetime | None = None,
) -> ParsedExport:
    """Parse an export on disk: the zip, the folder it unpacked to, or a single JSON file
    (`requested_at` as in `read_export`)."""
    if path.is_dir():
        return _assemble(
            path.name, _folder_documents(path, max_uncompressed_bytes), _Windows.of(requested_at)
        )
    if not path.is_file():
        raise ExportError(
            f"{path}: no such file or folder; point at my_spotify_data.zip or its folder"
        )
    size = path.stat().st_size
    if size > max_upload_bytes:
        raise ExportError(
            f"{path.name}: {_mebibytes(size)} is over the {_mebibytes(max_upload_bytes)} upload "
            "limit; import the export's JSON files one by one"
        )
    return read_export(
        path.name,
        path.read_bytes(),
        max_upload_bytes=max_upload_bytes,
        max_uncompressed_bytes=max_uncompressed_bytes,
        requested_at=requested_at,
    )


@dataclass(frozen=True, slots=True)
class _Windows:
    """The plausible dates of each export format's plays, for one import."""

    extended: PlayWindow
    account: PlayWindow

    @classmethod
    def of(cls, requested_at: datetime | None) -> _Windows:
        moment = datetime.now(UTC) if requested_at is None else requested_at
        return cls(play_window("extended", moment), play_window("account", moment))


@dataclass(slots=True)
class _Document:
    """One file of an export: its decoded JSON, or why it was set aside unread."""

    name: str
    content: Any = None
    ignored_because: str | None = None


def _read_single_json(
    name: str, payload: bytes, dates: _Windows, hand: Callable[[list[Play]], None] | None = None
) -> ParsedExport:
    content = _load_json(name, name, payload)
    if isinstance(content, _TypedExtended):
        return _assemble(name, iter([_Document(name, content)]), dates, hand)
    if not isinstance(content, list):
        raise ExportError(
            f"{name}: a JSON {type(content).__name__}, not a list of listening-history rows; "
            f"{_EXPECTED_FILES} from the export, or {_HOW_TO_GET_IT}"
        )
    if not content:
        raise ExportError(
            f"{name}: holds no listening-history rows (an empty list); {_HOW_TO_GET_IT}"
        )
    if history_kind(content) is None:
        raise ExportError(
            f"{name}: its rows are not Spotify listening history (no ts/ms_played or "
            f"endTime/msPlayed keys); {_EXPECTED_FILES}, or {_HOW_TO_GET_IT}"
        )
    return _assemble(name, iter([_Document(name, content)]), dates, hand)


def _zip_documents(export_name: str, payload: bytes, limit: int) -> Iterator[_Document]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(payload))
    except (zipfile.BadZipFile, UnicodeDecodeError, ValueError, NotImplementedError, OSError):
        raise ExportError(
            f"{export_name}: a damaged zip (it cannot be opened); {_HOW_TO_GET_IT}"
        ) from None
    with archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
        if not members:
            raise ExportError(f"{export_name}: an empty zip; {_HOW_TO_GET_IT}")
        for name, data, ignored_because in _read_ahead(
            _zip_members(export_name, archive, members, limit)
        ):
            if data is None:
                yield _Document(name, ignored_because=ignored_because)
                continue
            document = _Document(name, _load_json(export_name, name, data))
            del data
            yield document


def _zip_members(
    export_name: str, archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], limit: int
) -> Iterator[tuple[str, bytes | None, str | None]]:
    """Each member's name with its unpacked bytes, or with why it is not read."""
    unpacked = 0
    for info in members:
        if _is_unsafe_member(info.filename):
            yield info.filename, None, "unsafe path in zip, not read"
            continue
        if not info.filename.lower().endswith(".json"):
            yield info.filename, None, "not a JSON file"
            continue
        data = _read_member(export_name, archive, info, limit - unpacked)
        unpacked += len(data)
        if unpacked > limit:
            raise ExportError(
                f"{export_name}: unpacks to more than the {_mebibytes(limit)} allowed; "
                f"a Spotify export is far smaller, {_HOW_TO_GET_IT}"
            )
        yield info.filename, data, None


_T = TypeVar("_T")
_END = object()


def _read_ahead(items: Iterator[_T]) -> Iterator[_T]:
    """`items`, each produced one step ahead in a worker thread: zlib and crc32 release the
    GIL, so unpacking the next zip member runs on the other core while this one is parsed
    (0.16 s of a 140,000-play import). At most two members are in memory at once; an error of
    the producer is raised here, in order; leaving early stops the worker."""
    handoff: queue.Queue[tuple[object, BaseException | None]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item: object, error: BaseException | None = None) -> bool:
        while not stop.is_set():
            try:
                handoff.put((item, error), timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as error:
            put(_END, error)
            return
        put(_END)

    worker = threading.Thread(target=produce, name="zip-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            item, error = handoff.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield cast(_T, item)
    finally:
        stop.set()
        worker.join()


def _read_member(
    export_name: str, archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int
) -> bytes:
    # Header sizes can lie: read at most one byte past what is left, in memory, never to disk.
    try:
        with archive.open(info) as member:
            data = member.read(budget + 1)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error, lzma.LZMAError) as fault:
        raise ExportError(
            f"{export_name}: {info.filename} is damaged in the zip ({fault}); {_HOW_TO_GET_IT}"
        ) from None
    except (RuntimeError, NotImplementedError) as fault:
        raise ExportError(
            f"{export_name}: {info.filename} cannot be read ({fault}); upload the zip exactly as "
            "Spotify sent it (not encrypted, not recompressed)"
        ) from None
    return data


def _folder_documents(folder: Path, limit: int) -> Iterator[_Document]:
    files = sorted(path for path in folder.rglob("*") if not path.is_dir())
    if not files:
        raise ExportError(f"{folder.name}: an empty folder; unzip my_spotify_data.zip into it")
    for path in files:
        name = path.relative_to(folder).as_posix()
        if path.is_symlink():
            yield _Document(name, ignored_because="a symbolic link, not read")
            continue
        if path.suffix.lower() != ".json":
            yield _Document(name, ignored_because="not a JSON file")
            continue
        limit -= path.stat().st_size
        if limit < 0:
            raise ExportError(
                f"{folder.name}: its JSON files add up to more than the allowed size; "
                "import them in smaller batches"
            )
        yield _Document(name, _load_json(folder.name, name, path.read_bytes()))


def _is_unsafe_member(member_name: str) -> bool:
    posix_name = member_name.replace("\\", "/")
    parts = PurePosixPath(posix_name).parts
    return posix_name.startswith("/") or ".." in parts or (bool(parts) and parts[0].endswith(":"))


def _cut_short(document: str, position: int) -> bool:
    """Whether JSON failing at `position` just stops there: nothing after it, or only the start
    of a literal or a number (a file cut at `[{"skipped": fal`)."""
    tail = document[position:].strip()
    if not tail:
        return True
    return any(word.startswith(tail) for word in ("null", "true", "false")) or (
        tail.lstrip("-").replace(".", "").replace("e", "").replace("E", "").isdigit()
    )


@dataclass(slots=True)
class _TypedExtended:
    """An extended-history file decoded by the fast path: every row already type-checked."""

    rows: list[ExtendedRow]


def _load_json(export_name: str, name: str, data: bytes) -> Any:
    typed = typed_extended_rows(data)
    if typed:
        return _TypedExtended(typed)
    where = name if name == export_name else f"{export_name}: {name}"
    try:
        # Strict UTF-8 first: json.loads on bytes would let encoded surrogates through.
        return json.loads(data.decode("utf-8-sig"))
    except json.JSONDecodeError as fault:
        truncated = fault.msg.startswith("Unterminated") or _cut_short(fault.doc, fault.pos)
        what = "ends early (truncated)" if truncated else "is not valid JSON"
        raise ExportError(
            f"{where} {what}: {fault.msg} (line {fault.lineno}, column {fault.colno}); "
            f"nothing was imported, {_HOW_TO_GET_IT}"
        ) from None
    except UnicodeDecodeError:
        raise ExportError(
            f"{where} is not UTF-8 text; nothing was imported, {_HOW_TO_GET_IT}"
        ) from None
    except (ValueError, RecursionError):  # absurdly long numbers, absurdly deep nesting
        raise ExportError(
            f"{where} is not a listening history (numbers or nesting far beyond what Spotify "
            f"writes); nothing was imported, {_HOW_TO_GET_IT}"
        ) from None


class _PlayMerger:
    """Plays by natural key; a key seen twice keeps the row that played longest. With `hand`,
    the plays first seen since the last `hand_over` go to it there, and a handed play that a
    longer row supersedes later is remembered (`superseded`)."""

    def __init__(self, hand: Callable[[list[Play]], None] | None = None) -> None:
        self.plays_by_key: dict[str, Play] = {}
        self.hand = hand
        self.fresh: dict[str, None] = {}
        self.superseded: set[str] = set()

    def add(self, key: str, play: Play) -> bool:
        """Add a play under its key; True if the key is new, False if it merged into a kept play."""
        kept = self.plays_by_key.get(key)
        if kept is None:
            self.plays_by_key[key] = play
            if self.hand is not None:
                self.fresh[key] = None
            return True
        if play.ms_played > kept.ms_played:
            self.plays_by_key[key] = play
            if self.hand is not None and key not in self.fresh:
                self.superseded.add(key)
        return False

    def hand_over(self) -> None:
        if self.hand is not None and self.fresh:
            self.hand([self.plays_by_key[key] for key in self.fresh])
            self.fresh = {}

    def parsed(
        self, export_format: ExportFormat, files: list[FileReport], ignored: dict[str, str]
    ) -> ParsedExport:
        plays = self.sorted_plays()
        if self.hand is None:
            return ParsedExport(export_format, plays, files, ignored)
        withdrawn = sorted(self.superseded)
        late = [self.plays_by_key[key] for key in withdrawn]
        return ParsedExport(export_format, plays, files, ignored, late, withdrawn)

    def sorted_plays(self) -> list[Play]:
        # Keys start with the time, so sorting them first leaves the stable sort by time almost
        # nothing to do, and plays in the same second come out in the same order on every import.
        plays = [self.plays_by_key[key] for key in sorted(self.plays_by_key)]
        plays.sort(key=attrgetter("ended_at"))
        return plays


def _read_rows(
    name: str,
    kind: HistoryKind,
    rows: Sequence[Any],
    merger: _PlayMerger,
    to_play: Callable[[Any], tuple[str, Play] | NotMusic],
    window: PlayWindow,
) -> FileReport:
    """One history file's rows into the merger, each counted as new, merged, set aside or
    rejected (by reason: a wrong value type, or a date outside `window`)."""
    music_plays = duplicates = podcasts = audiobooks = 0
    rejected: Counter[str] = Counter()
    for row in rows:
        try:
            played = to_play(row)
        except RowRejected as rejection:
            rejected[rejection.reason] += 1
            continue
        if played == "podcast":
            podcasts += 1
        elif played == "audiobook":
            audiobooks += 1
        elif (implausible := window.rejection(played[1].ended_at)) is not None:
            rejected[implausible] += 1
        elif merger.add(*played):
            music_plays += 1
        else:
            duplicates += 1
    return FileReport(
        name, kind, len(rows), music_plays, duplicates, podcasts, audiobooks, dict(rejected)
    )


def _read_account_file(
    name: str, kind: HistoryKind, rows: list[Any], merger: _PlayMerger, window: PlayWindow
) -> FileReport:
    if kind is not HistoryKind.ACCOUNT_MUSIC:
        # Podcast and audiobook files are set aside whole: none of their rows is music.
        podcasts = len(rows) if kind is HistoryKind.ACCOUNT_PODCAST else 0
        return FileReport(name, kind, len(rows), 0, 0, podcasts, len(rows) - podcasts)
    return _read_rows(name, kind, rows, merger, account_row_play, window)


def _assemble(
    export_name: str,
    documents: Iterator[_Document],
    dates: _Windows,
    hand: Callable[[list[Play]], None] | None = None,
) -> ParsedExport:
    """Parse each history file as it is read (so only one file's rows are in memory at a time).

    The extended history supersedes the account data: when both are present, the account files
    are ignored so no stream is counted twice under two different keys. So only extended plays
    are handed over as they are read; account plays are all late (they are few).
    """
    extended, account = _PlayMerger(hand), _PlayMerger()
    extended_reports: list[FileReport] = []
    account_reports: list[FileReport] = []
    ignored_files: dict[str, str] = {}
    for document in documents:
        # Drop the document's hold on its rows so they are freed before the next file is parsed.
        rows, document.content = document.content, None
        kind = history_kind(rows) if isinstance(rows, list) else None
        if isinstance(rows, _TypedExtended):
            extended_reports.append(
                _read_rows(
                    document.name,
                    HistoryKind.EXTENDED,
                    rows.rows,
                    extended,
                    typed_extended_play,
                    dates.extended,
                )
            )
            extended.hand_over()
        elif document.ignored_because is not None:
            ignored_files[document.name] = document.ignored_because
        elif not isinstance(rows, list):
            ignored_files[document.name] = "not a list of listening-history rows"
        elif kind is None:
            ignored_files[document.name] = "its rows are not listening history"
        elif kind is HistoryKind.EXTENDED:
            extended_reports.append(
                _read_rows(document.name, kind, rows, extended, extended_row_play, dates.extended)
            )
            extended.hand_over()
        else:
            account_reports.append(
                _read_account_file(document.name, kind, rows, account, dates.account)
            )
        del rows
    if extended_reports:
        for report in account_reports:
            ignored_files[report.name] = "account data, superseded by the extended history"
        return extended.parsed("extended", extended_reports, ignored_files)
    if account_reports:
        return account.parsed("account", account_reports, ignored_files)
    raise ExportError(
        f"{export_name}: no Spotify listening history inside ({_EXPECTED_FILES}); {_HOW_TO_GET_IT}"
    )


def _mebibytes(size: int) -> str:
    return f"{size / (1024 * 1024):,.0f} MiB"
