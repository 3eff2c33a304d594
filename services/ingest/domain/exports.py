"""Read a listening-history export (zip, folder or one file) into deduplicated plays.

Each file is recognised by its content, not its name: Spotify's extended and account-data
JSON (`history_rows`), Last.fm scrobble CSVs (`lastfm_rows`), ListenBrainz listens as JSON
Lines or a JSON list (`listenbrainz_rows`), Google Takeout's YouTube watch history
(`takeout_rows`) and Apple Music's play-history CSVs (`apple_rows`). A zip or folder may
hold several of them at once; each play keeps its source.

All-or-nothing rule: a payload that is not a zip/JSON/CSV, any file in it that fails to parse,
or a row of another source's file that breaks its layout (`FileFault`: a date that does not
parse, a listen without its fields) rejects the whole import (ExportError naming the file,
nothing stored); inside valid files, rows with wrong value types or implausible dates (see
`plausible`) are rejected one by one, counted by reason in the file's report, rows that are
not plays (videos that are not music, the now-playing row) are set aside and counted, and
the good rows are kept.

Memory is bounded whatever the upload: files are decoded a batch of rows at a time as their
bytes arrive (`json_rows`), zip members inflated a chunk at a time under one running limit, and
a parse that hands its plays over (`hand`) keeps only their keys.
"""

from __future__ import annotations

import io
import itertools
import json
import lzma
import queue
import tempfile
import threading
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import attrgetter
from pathlib import Path, PurePosixPath
from typing import IO, Any, BinaryIO, Literal, TypeVar, cast

from services.ingest.domain import apple_rows, lastfm_rows, listenbrainz_rows, takeout_rows
from services.ingest.domain.csv_rows import CsvFault, csv_rows
from services.ingest.domain.history_rows import (
    FileFault,
    HistoryKind,
    NotMusic,
    RowRejected,
    SetAside,
    account_row_play,
    extended_row_play,
    history_kind,
    typed_extended_play,
)
from services.ingest.domain.json_rows import (
    MAX_OTHER_BYTES,
    Absurd,
    JsonFault,
    NotUtf8,
    OtherValue,
    RowBatch,
    json_rows,
    jsonl_rows,
)
from services.ingest.domain.plausible import PlayWindow, play_window
from services.ingest.domain.plays import Play, PlaySource

# "extended" or "account" for a Spotify export, the source ("lastfm", "listenbrainz",
# "youtube", "apple_music") of another, and their names joined by "+" for an upload of several.
ExportFormat = str

MAX_UPLOAD_BYTES = 512 * 1024 * 1024
# A real export unpacks to ~1 KB per stream: 1 GiB is decades of listening, and stops zip bombs.
MAX_UNCOMPRESSED_BYTES = 1024 * 1024 * 1024
# Plays handed to the consumer at a time, and bytes read (or inflated) at a time: what a
# parse with `hand` holds in memory besides the keys it has seen. Batches of 2,000 plays cost
# a 140,000-play import a tenth more CPU (allocator churn and thread hand-offs); 5,000 none.
HAND_ROWS = 5_000
CHUNK_BYTES = 1024 * 1024

_HOW_TO_GET_IT = "download the export again from spotify.com/account/privacy"
_EXPECTED_FILES = "expected Streaming_History_Audio_*.json or StreamingHistory_music_*.json"
_OTHER_SOURCES = (
    "a Last.fm scrobble CSV, a ListenBrainz export, YouTube's watch-history.json or "
    "Apple Music's play-history CSVs"
)
# What to do about a file of another source that cannot be read.
_REMEDY: dict[PlaySource, str] = {
    "lastfm": "export the scrobbles again (lastfm-to-csv or lastfm.ghan.nl) and upload the CSV "
    "as it was written",
    "listenbrainz": "download the export again from listenbrainz.org/settings/export",
    "youtube": "download watch-history.json again from takeout.google.com (YouTube and "
    "YouTube Music, history as JSON)",
    "apple_music": "request the data again at privacy.apple.com and upload Apple's files as sent",
}


class ExportError(ValueError):
    """An upload that cannot be imported; the message names the file, the fault and the remedy."""


@dataclass(frozen=True, slots=True)
class FileReport:
    """What one history file held: rows_read = music_plays + duplicates_merged + podcasts
    + audiobooks + sum(rejected.values()) + sum(set_aside.values())."""

    name: str
    kind: HistoryKind
    rows_read: int
    music_plays: int
    duplicates_merged: int
    podcasts: int
    audiobooks: int
    rejected: dict[str, int] = field(default_factory=dict)
    set_aside: dict[str, int] = field(default_factory=dict)  # rows that are not plays, by why


@dataclass(frozen=True, slots=True)
class ParsedExport:
    """The plays of one export, sorted by `ended_at`, with a report per history file.

    When the parse handed plays over batch by batch (`read_export(..., hand=...)`), `plays`
    is empty (it kept only their keys), `late_plays` are the plays the consumer has not been
    given yet and `withdrawn_keys` the keys of handed plays a later row superseded (a longer
    row of the same stream, or account plays the extended history supersedes): what is
    stored is handed - withdrawn + late, `music_plays` of them. Without `hand`, `late_plays`
    is every play and nothing is withdrawn.
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
        return self._by_reason(attrgetter("rejected"))

    @property
    def set_aside(self) -> dict[str, int]:
        """Rows that are not plays, besides podcasts and audiobooks, by why."""
        return self._by_reason(attrgetter("set_aside"))

    def _by_reason(self, counts: Callable[[FileReport], dict[str, int]]) -> dict[str, int]:
        reasons: Counter[str] = Counter()
        for report in self.files:
            reasons.update(counts(report))
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
    """Parse an uploaded export held in memory: Spotify's zip as delivered, or one of its
    JSON files (`read_upload` for one that arrives in parts).

    `hand`, when given, receives the plays in batches as they are read, so they can be
    stored while the rest is parsed, and the parse keeps only their keys; see
    `ParsedExport.late_plays` for what is left at the end. An error later on still raises
    ExportError: the consumer must then drop what it was handed (all or nothing).

    `requested_at` is when the import was requested: plays more than a day after it are
    rejected as dated in the future. Ingest passes the request's time; None (a file read
    from disk by a tool) means now."""
    if len(payload) > max_upload_bytes:
        raise _over_upload_limit(name, len(payload), max_upload_bytes)
    if payload.startswith(_ZIP_MAGIC):
        documents = _zip_documents(name, io.BytesIO(payload), max_uncompressed_bytes)
        return _assemble(name, documents, _Windows.of(requested_at), hand)
    return read_upload(
        name,
        [payload],
        max_upload_bytes=max_upload_bytes,
        max_uncompressed_bytes=max_uncompressed_bytes,
        hand=hand,
        requested_at=requested_at,
    )


def read_upload(
    name: str,
    parts: Iterable[bytes],
    *,
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
    max_uncompressed_bytes: int = MAX_UNCOMPRESSED_BYTES,
    hand: Callable[[list[Play]], None] | None = None,
    requested_at: datetime | None = None,
) -> ParsedExport:
    """`read_export` of an upload that arrives in `parts` (in order, of any size), with
    bounded memory: a JSON file is decoded as its parts come; a zip, which needs random
    access, is spooled to an unnamed temporary file first (gone when closed, even after a
    crash) and each member inflated a chunk at a time."""
    dates = _Windows.of(requested_at)
    magic, first, chunks = _first_bytes(_within_upload_limit(name, parts, max_upload_bytes))
    if magic.startswith(_ZIP_MAGIC):
        with tempfile.TemporaryFile(prefix="fullcircle-upload-") as spool:
            for chunk in chunks:
                spool.write(chunk)
            documents = _zip_documents(name, spool, max_uncompressed_bytes)
            return _assemble(name, documents, dates, hand)
    content, chunks = _sniff(name, chunks, trust_suffix=False) if first else (None, chunks)
    if content is not None:
        document = _Document(name, chunks, whole_upload=True)
        return _assemble(name, iter([document]), dates, hand)
    raise ExportError(
        f"{name}: neither a zip nor a JSON file (nor a CSV); upload my_spotify_data.zip as "
        f"Spotify sent it ({_EXPECTED_FILES} inside), {_OTHER_SOURCES}, or {_HOW_TO_GET_IT}"
    )


def read_export_path(
    path: Path,
    *,
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
    max_uncompressed_bytes: int = MAX_UNCOMPRESSED_BYTES,
    requested_at: datetime | None = None,
) -> ParsedExport:
    """Parse an export on disk: the zip, the folder it unpacked to, or a single JSON file
    (`requested_at` as in `read_export`), streamed as an upload is."""
    if path.is_dir():
        return _assemble(
            path.name, _folder_documents(path, max_uncompressed_bytes), _Windows.of(requested_at)
        )
    if not path.is_file():
        raise ExportError(
            f"{path}: no such file or folder; point at my_spotify_data.zip or its folder, "
            f"or at {_OTHER_SOURCES}"
        )
    size = path.stat().st_size
    if size > max_upload_bytes:
        raise ExportError(
            f"{path.name}: {_mebibytes(size)} is over the {_mebibytes(max_upload_bytes)} upload "
            "limit; import the export's JSON files one by one"
        )
    with path.open("rb") as file:
        if file.read(len(_ZIP_MAGIC[0])) in _ZIP_MAGIC:
            file.seek(0)
            documents = _zip_documents(path.name, file, max_uncompressed_bytes)
            return _assemble(path.name, documents, _Windows.of(requested_at))
    return read_upload(
        path.name,
        _file_chunks(path),
        max_upload_bytes=max_upload_bytes,
        max_uncompressed_bytes=max_uncompressed_bytes,
        requested_at=requested_at,
    )


_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_BOM_AND_BLANKS = b"\xef\xbb\xbf \t\r\n"


def _over_upload_limit(name: str, size: int, limit: int) -> ExportError:
    return ExportError(
        f"{name}: {_mebibytes(size)} is over the {_mebibytes(limit)} upload "
        "limit; upload my_spotify_data.zip as Spotify sent it, or its JSON files one by one"
    )


def _within_upload_limit(name: str, parts: Iterable[bytes], limit: int) -> Iterator[bytes]:
    size = 0
    for part in parts:
        size += len(part)
        if size > limit:
            raise _over_upload_limit(name, size, limit)
        yield part


def _first_bytes(parts: Iterator[bytes]) -> tuple[bytes, bytes, Iterator[bytes]]:
    """The upload's first four bytes (a zip's signature), its first byte that is not a BOM
    or blank (b"" if there is none), and all of its parts again, less the parts of nothing
    but blanks before that byte (so blanks cannot pile up in memory)."""
    held: list[bytes] = []
    size = 0
    first = b""
    for part in parts:
        if not part or (size >= 4 and not first and not part.strip(_BOM_AND_BLANKS)):
            continue
        held.append(part)
        size += len(part)
        first = first or part.lstrip(_BOM_AND_BLANKS)[:1]
        if first and size >= 4:
            break
    return b"".join(held[:4])[:4], first, itertools.chain(held, parts)


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as file:
        while chunk := file.read(CHUNK_BYTES):
            yield chunk


@dataclass(frozen=True, slots=True)
class _Windows:
    """The plausible dates of each export format's plays, for one import."""

    extended: PlayWindow
    account: PlayWindow
    requested_at: datetime

    @classmethod
    def of(cls, requested_at: datetime | None) -> _Windows:
        moment = datetime.now(UTC) if requested_at is None else requested_at
        return cls(play_window("extended", moment), play_window("account", moment), moment)

    def of_source(self, source: PlaySource) -> PlayWindow:
        return play_window(source, self.requested_at)


@dataclass(slots=True)
class _Document:
    """One file of an export: its bytes as they arrive, or why it was set aside unread."""

    name: str
    chunks: Iterator[bytes] | None = None
    ignored_because: str | None = None
    whole_upload: bool = False  # the upload is this one file


_Content = Literal["json", "jsonl", "csv"]
# How much of a file's start is looked at to tell JSON, JSON Lines and CSV apart.
_SNIFF_BYTES = 1024 * 1024


def _sniff(
    name: str, chunks: Iterator[bytes], *, trust_suffix: bool = True
) -> tuple[_Content | None, Iterator[bytes]]:
    """How a file is decoded, told by its first line (with `trust_suffix`, a file named .json
    whose bytes say nothing is decoded as JSON, so the decoder says what is wrong), and its
    chunks again."""
    held = bytearray()
    for chunk in chunks:
        held += chunk
        if _sniffed_enough(held) or len(held) >= _SNIFF_BYTES:
            break
    content = _content_of(bytes(held[:_SNIFF_BYTES]))
    if content is None and trust_suffix and name.lower().endswith(".json"):
        content = "json"
    return content, itertools.chain([bytes(held)], chunks)


def _sniffed_enough(held: bytearray) -> bool:
    text = held.lstrip(_BOM_AND_BLANKS)
    if text[:1] == b"[":
        return True
    _, newline, rest = text.partition(b"\n")
    return bool(newline) and bool(rest.strip())


def _content_of(head: bytes) -> _Content | None:
    """JSON when the text opens an array or an object spread over lines, JSON Lines when its
    first line is a whole object and another follows, CSV when its first line has a comma
    and no NUL (its decoder then says if it is not UTF-8); None otherwise."""
    text = head.lstrip(_BOM_AND_BLANKS)
    first, newline, rest = text.partition(b"\n")
    if text[:1] == b"[":
        return "json"
    if text[:1] == b"{":
        if newline and rest.lstrip()[:1] == b"{":
            try:
                return "jsonl" if isinstance(json.loads(first), dict) else "json"
            except (ValueError, RecursionError):
                return "json"
        return "json"
    if b"," not in first or b"\x00" in first:
        return None
    return "csv"


@dataclass(frozen=True, slots=True)
class _MemberStart:
    """A zip member about to be inflated (its chunks follow, then `_MEMBER_END`), or set
    aside unread and why."""

    name: str
    ignored_because: str | None = None


_MEMBER_END = object()
_ZipEvent = _MemberStart | bytes | object


def _zip_documents(export_name: str, file: BinaryIO, limit: int) -> Iterator[_Document]:
    """The zip's files in order, each JSON member decoded as it is inflated (one chunk ahead
    in a worker thread: zlib and crc32 release the GIL, so it runs on the other core)."""
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, UnicodeDecodeError, ValueError, NotImplementedError, OSError):
        raise ExportError(
            f"{export_name}: a damaged zip (it cannot be opened); {_HOW_TO_GET_IT}"
        ) from None
    with archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
        if not members:
            raise ExportError(f"{export_name}: an empty zip; {_HOW_TO_GET_IT}")
        # zipfile never inflates a member past the size its directory declares (a member that
        # holds more fails its CRC), so a bomb is refused here, before any of it is inflated.
        if sum(info.file_size for info in members if _not_read_because(info) is None) > limit:
            raise _unpacks_too_far(export_name, limit)
        events = _read_ahead(_zip_events(export_name, archive, members, limit))
        for event in events:
            if isinstance(event, _MemberStart) and event.ignored_because is not None:
                yield _Document(event.name, ignored_because=event.ignored_because)
            elif isinstance(event, _MemberStart):
                chunks = _member_chunks(events)
                yield _Document(event.name, chunks)
                for _ in chunks:  # whatever of the member its reader left
                    pass


def _member_chunks(events: Iterator[_ZipEvent]) -> Iterator[bytes]:
    for event in events:
        if event is _MEMBER_END:
            return
        yield cast(bytes, event)


def _zip_events(
    export_name: str, archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], limit: int
) -> Iterator[_ZipEvent]:
    """Each member as a start, its inflated chunks and an end, or as set aside with why; the
    inflated bytes of all members together stop one byte past `limit`, with an ExportError
    (counted as they come out, not trusted from the directory: the limit holds even if
    zipfile ever inflates past a declared size)."""
    unpacked = 0
    for info in members:
        if (reason := _not_read_because(info)) is not None:
            yield _MemberStart(info.filename, reason)
            continue
        yield _MemberStart(info.filename)
        with _opened_member(export_name, archive, info) as member:
            while chunk := _inflate(
                export_name, info, member, min(CHUNK_BYTES, limit - unpacked + 1)
            ):
                unpacked += len(chunk)
                if unpacked > limit:
                    raise _unpacks_too_far(export_name, limit)
                yield chunk
        yield _MEMBER_END


def _not_read_because(info: zipfile.ZipInfo) -> str | None:
    if _is_unsafe_member(info.filename):
        return "unsafe path in zip, not read"
    if not info.filename.lower().endswith(_READ_SUFFIXES):
        return _NOT_READ
    return None


# The files of a zip or folder that are read (each then recognised by its content).
_READ_SUFFIXES = (".json", ".jsonl", ".csv")
_NOT_READ = "not a JSON or CSV file"


def _unpacks_too_far(export_name: str, limit: int) -> ExportError:
    return ExportError(
        f"{export_name}: unpacks to more than the {_mebibytes(limit)} allowed; "
        f"a Spotify export is far smaller, {_HOW_TO_GET_IT}"
    )


@contextmanager
def _opened_member(
    export_name: str, archive: zipfile.ZipFile, info: zipfile.ZipInfo
) -> Iterator[IO[bytes]]:
    with _member_faults(export_name, info):
        member = archive.open(info)
    with member:
        yield member


def _inflate(export_name: str, info: zipfile.ZipInfo, member: IO[bytes], size: int) -> bytes:
    """At most `size` inflated bytes of the member (b"" at its end)."""
    with _member_faults(export_name, info):
        return member.read(size)


@contextmanager
def _member_faults(export_name: str, info: zipfile.ZipInfo) -> Iterator[None]:
    """A damaged or unreadable member's faults as ExportErrors that say which and why."""
    try:
        yield
    except _ZIP_FAULTS as fault:
        raise ExportError(
            f"{export_name}: {info.filename} is damaged in the zip ({fault}); {_HOW_TO_GET_IT}"
        ) from None
    except (RuntimeError, NotImplementedError) as fault:
        raise ExportError(
            f"{export_name}: {info.filename} cannot be read ({fault}); upload the zip exactly "
            "as Spotify sent it (not encrypted, not recompressed)"
        ) from None


_ZIP_FAULTS = (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error, lzma.LZMAError)


_T = TypeVar("_T")
_END = object()


def _read_ahead(items: Iterator[_T]) -> Iterator[_T]:
    """`items`, each produced one step ahead in a worker thread, so unpacking the next chunk
    of a zip runs on the other core while this one is parsed. At most two items are in
    memory at once; an error of the producer is raised here, in order; leaving early stops
    the worker."""
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


def _folder_documents(folder: Path, limit: int) -> Iterator[_Document]:
    files = sorted(path for path in folder.rglob("*") if not path.is_dir())
    if not files:
        raise ExportError(
            f"{folder.name}: an empty folder; unzip my_spotify_data.zip into it, or put "
            f"{_OTHER_SOURCES} in it"
        )
    for path in files:
        name = path.relative_to(folder).as_posix()
        if path.is_symlink():
            yield _Document(name, ignored_because="a symbolic link, not read")
            continue
        if not path.name.lower().endswith(_READ_SUFFIXES):
            yield _Document(name, ignored_because=_NOT_READ)
            continue
        limit -= path.stat().st_size
        if limit < 0:
            raise ExportError(
                f"{folder.name}: its JSON and CSV files add up to more than the allowed size; "
                "import them in smaller batches"
            )
        yield _Document(name, _file_chunks(path))


def _is_unsafe_member(member_name: str) -> bool:
    posix_name = member_name.replace("\\", "/")
    parts = PurePosixPath(posix_name).parts
    return posix_name.startswith("/") or ".." in parts or (bool(parts) and parts[0].endswith(":"))


def _named(where: str, batches: Iterator[RowBatch | OtherValue]) -> Iterator[RowBatch | OtherValue]:
    """`batches` with the decoder's faults as ExportErrors that name the file."""
    try:
        yield from batches
    except JsonFault as fault:
        what = "ends early (truncated)" if fault.truncated else "is not valid JSON"
        raise ExportError(
            f"{where} {what}: {fault.message} (line {fault.line}, column {fault.column}); "
            f"nothing was imported, {_HOW_TO_GET_IT}"
        ) from None
    except NotUtf8:
        raise ExportError(
            f"{where} is not UTF-8 text; nothing was imported, {_HOW_TO_GET_IT}"
        ) from None
    except Absurd:
        raise ExportError(
            f"{where} is not a listening history (numbers or nesting far beyond what Spotify "
            f"writes); nothing was imported, {_HOW_TO_GET_IT}"
        ) from None


class _PlayMerger:
    """Plays by natural key; a key seen twice keeps the row that played longest.

    Without `hand`, every play is kept (for `ParsedExport.plays`). With it, the plays first
    seen since the last `hand_over` go to it there and only their keys (with how long they
    played) are kept: a handed play that a longer row supersedes later is kept as late."""

    def __init__(self, hand: Callable[[list[Play]], None] | None = None) -> None:
        self.hand = hand
        self.plays_by_key: dict[str, Play] = {}  # with hand: the plays not handed over yet
        self.handed_ms: dict[str, int] = {}
        self.late: dict[str, Play] = {}

    def add(self, key: str, play: Play) -> bool:
        """Add a play under its key; True if the key is new, False if it merged into a kept play."""
        kept = self.plays_by_key.get(key)
        if kept is not None:
            if play.ms_played > kept.ms_played:
                self.plays_by_key[key] = play
            return False
        handed_ms = self.handed_ms.get(key)
        if handed_ms is None:
            self.plays_by_key[key] = play
            return True
        if play.ms_played > handed_ms:
            self.handed_ms[key] = play.ms_played
            self.late[key] = play
        return False

    def hand_over(self, at_least: int = 1) -> None:
        """Hand the plays not handed yet over, if there are `at_least` of them."""
        if self.hand is None or len(self.plays_by_key) < max(at_least, 1):
            return
        plays, self.plays_by_key = self.plays_by_key, {}
        self.handed_ms.update((key, play.ms_played) for key, play in plays.items())
        self.hand(list(plays.values()))

    def handed_keys(self) -> list[str]:
        return sorted(self.handed_ms)

    def parsed(
        self,
        export_format: ExportFormat,
        files: list[FileReport],
        ignored: dict[str, str],
        also_withdrawn: Sequence[str] = (),
    ) -> ParsedExport:
        if self.hand is None:
            return ParsedExport(export_format, self.sorted_plays(), files, ignored)
        self.hand_over()
        withdrawn = sorted(self.late)
        late = [self.late[key] for key in withdrawn]
        return ParsedExport(export_format, [], files, ignored, late, [*withdrawn, *also_withdrawn])

    def sorted_plays(self) -> list[Play]:
        # Keys start with the time, so sorting them first leaves the stable sort by time almost
        # nothing to do, and plays in the same second come out in the same order on every import.
        plays = [self.plays_by_key[key] for key in sorted(self.plays_by_key)]
        plays.sort(key=attrgetter("ended_at"))
        return plays


def _discard(_: list[Play]) -> None:
    """Where the plays of account files read after the extended history go (nowhere)."""


@dataclass(slots=True)
class _FileTally:
    """One history file's rows so far, each counted as new, merged, set aside or rejected
    (by reason: a wrong value type, or a date outside the window)."""

    rows_read: int = 0
    music_plays: int = 0
    duplicates: int = 0
    podcasts: int = 0
    audiobooks: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    set_aside: Counter[str] = field(default_factory=Counter)

    def read(
        self,
        rows: Sequence[Any],
        merger: _PlayMerger,
        to_play: Callable[[Any], tuple[str, Play] | NotMusic | SetAside],
        window: PlayWindow,
    ) -> None:
        """Count `rows`; a `FileFault` of one of them is raised with its row number in the
        file (`row`, counting from 1) set."""
        music_plays = duplicates = podcasts = audiobooks = 0
        rejected = self.rejected
        for row in rows:
            try:
                played = to_play(row)
            except RowRejected as rejection:
                rejected[rejection.reason] += 1
                continue
            except FileFault as fault:
                # An identical row earlier would have failed the same way: index finds this one.
                fault.row = self.rows_read + list(rows).index(row) + 1
                raise
            if played == "podcast":
                podcasts += 1
            elif played == "audiobook":
                audiobooks += 1
            elif isinstance(played, SetAside):
                self.set_aside[played.reason] += 1
            elif (implausible := window.rejection(played[1].ended_at)) is not None:
                rejected[implausible] += 1
            elif merger.add(*played):
                music_plays += 1
            else:
                duplicates += 1
        self.rows_read += len(rows)
        self.music_plays += music_plays
        self.duplicates += duplicates
        self.podcasts += podcasts
        self.audiobooks += audiobooks

    def report(self, name: str, kind: HistoryKind) -> FileReport:
        return FileReport(
            name,
            kind,
            self.rows_read,
            self.music_plays,
            self.duplicates,
            self.podcasts,
            self.audiobooks,
            dict(self.rejected),
            dict(self.set_aside),
        )


@dataclass(slots=True)
class _FileStart:
    """A file's first rows (enough to tell its kind), or its value when it is not a list;
    `google_product` names what a Takeout activity file that is not YouTube's watch history
    is of."""

    held: list[RowBatch]
    kind: HistoryKind | None
    other: OtherValue | None
    google_product: str | None = None


def _file_start(batches: Iterator[RowBatch | OtherValue]) -> _FileStart:
    held: list[RowBatch] = []
    seen = 0
    google_product = None
    for batch in batches:
        if isinstance(batch, OtherValue):
            return _FileStart(held, None, batch)
        held.append(batch)
        for row in batch.rows[: _ROWS_SNIFFED - seen]:
            kind = HistoryKind.EXTENDED if batch.typed else _json_row_kind(row)
            if kind is not None:
                return _FileStart(held, kind, None)
            if not batch.typed and takeout_rows.is_activity(row):
                google_product = google_product or takeout_rows.product_of(row)
        seen += len(batch.rows)
        if seen >= _ROWS_SNIFFED:
            break
    return _FileStart(held, None, None, google_product)


def _json_row_kind(row: Any) -> HistoryKind | None:
    """The kind of a JSON file told by one of its rows, or None."""
    kind = history_kind([row])
    if kind is not None:
        return kind
    if listenbrainz_rows.is_listen(row):
        return HistoryKind.LISTENBRAINZ
    if takeout_rows.is_activity(row) and takeout_rows.is_watch_entry(row):
        return HistoryKind.YOUTUBE_WATCHES
    return None


_ROWS_SNIFFED = 20


def _handing_out(held: list[RowBatch]) -> Iterator[RowBatch]:
    """The held batches, each let go of once read (not kept until the file ends)."""
    held.reverse()
    while held:
        yield held.pop()


@dataclass(frozen=True, slots=True)
class _ListenFile:
    """A file of a source other than Spotify, recognised: its kind, its rows as they are
    decoded and how each becomes a play; `first_row` is the number of its first data row."""

    kind: HistoryKind
    source: PlaySource
    batches: Iterator[Sequence[Any]]
    to_play: Callable[[Any], tuple[str, Play] | SetAside]
    first_row: int = 1


def _listenbrainz_file(batches: Iterator[Sequence[Any]]) -> _ListenFile:
    return _ListenFile(
        HistoryKind.LISTENBRAINZ, "listenbrainz", batches, listenbrainz_rows.listen_play
    )


_JSON_READERS: dict[HistoryKind, tuple[PlaySource, Callable[[Any], Any]]] = {
    HistoryKind.LISTENBRAINZ: ("listenbrainz", listenbrainz_rows.listen_play),
    HistoryKind.YOUTUBE_WATCHES: ("youtube", takeout_rows.watch_play),
}


class _Assembly:
    """The files of one export as they are read: Spotify's history files (the extended
    history superseding the account data, see `_assemble`) and other sources' files, whose
    plays (keyed by source, so none collides with another's) share one merger."""

    def __init__(
        self, export_name: str, dates: _Windows, hand: Callable[[list[Play]], None] | None
    ) -> None:
        self.export_name, self.dates, self.hand = export_name, dates, hand
        self.extended, self.account = _PlayMerger(hand), _PlayMerger(hand)
        self.listens = _PlayMerger(hand)
        self.extended_reports: list[FileReport] = []
        self.account_reports: list[FileReport] = []
        self.listen_reports: list[FileReport] = []
        self.sources: list[PlaySource] = []
        self.ignored_files: dict[str, str] = {}

    def read(self, document: _Document) -> None:
        if document.chunks is None:
            self.ignored_files[document.name] = document.ignored_because or "not read"
            return
        where = document.name if document.whole_upload else f"{self.export_name}: {document.name}"
        content, chunks = _sniff(document.name, document.chunks)
        if content == "csv":
            self._read_csv(document, where, chunks)
        elif content == "jsonl":
            self._read_json_lines(document, where, _named(where, jsonl_rows(chunks)))
        elif content == "json":
            self._read_json(document, where, _named(where, json_rows(chunks)))
        elif document.whole_upload:
            raise ExportError(f"{where}: neither a zip nor a JSON file (nor a CSV)")
        else:
            for _ in chunks:  # still read: a damaged zip member rejects the import
                pass
            self.ignored_files[document.name] = "neither JSON nor CSV text"

    def _read_json_lines(
        self, document: _Document, where: str, batches: Iterator[RowBatch | OtherValue]
    ) -> None:
        """ListenBrainz listens, one a line; another JSON Lines file (the export's feedback or
        pins) is set aside, or refused when it is the whole upload."""
        first = cast(RowBatch | None, next(batches, None))
        if first is not None and first.rows and listenbrainz_rows.is_listen(first.rows[0]):
            rows = (cast(RowBatch, batch).rows for batch in itertools.chain([first], batches))
            self._read_listens(document.name, where, _listenbrainz_file(rows))
            return
        if document.whole_upload:
            raise ExportError(
                f"{where}: JSON Lines that are not ListenBrainz listens (no listened_at and "
                f"track_metadata); {_REMEDY['listenbrainz']}"
            )
        for _ in batches:
            pass
        self.ignored_files[document.name] = "JSON Lines that are not listens"

    def _read_json(
        self, document: _Document, where: str, batches: Iterator[RowBatch | OtherValue]
    ) -> None:
        start = _file_start(batches)
        dumped = (
            None if start.other is None else listenbrainz_rows.dumped_listens(start.other.value)
        )
        if dumped is not None:
            self._read_listens(document.name, where, _listenbrainz_file(iter([dumped])))
            return
        if start.other is not None or start.kind is None:
            if start.google_product is not None:
                self._not_watch_history(document, where, start.google_product, batches)
                return
            if document.whole_upload:
                _refuse_single(where, start)
            for _ in batches:  # still checked: a damaged file rejects the import
                pass
            self.ignored_files[document.name] = (
                "not a list of listening-history rows"
                if start.other is not None
                else "its rows are not listening history"
            )
            return
        rows = itertools.chain(_handing_out(start.held), cast(Iterator[RowBatch], batches))
        if start.kind in _JSON_READERS:
            source, to_play = _JSON_READERS[start.kind]
            listen_file = _ListenFile(start.kind, source, (batch.rows for batch in rows), to_play)
            self._read_listens(document.name, where, listen_file)
        else:
            self._read_spotify(document.name, start.kind, rows)

    def _not_watch_history(
        self,
        document: _Document,
        where: str,
        product: str,
        batches: Iterator[RowBatch | OtherValue],
    ) -> None:
        if document.whole_upload:
            raise ExportError(
                f"{where}: a Google Takeout activity file of {product}, not YouTube's watch "
                f"history; upload watch-history.json (Takeout: YouTube and YouTube Music, "
                f"history as JSON)"
            )
        for _ in batches:
            pass
        self.ignored_files[document.name] = f"Google activity of {product}, not watch history"

    def _read_csv(self, document: _Document, where: str, chunks: Iterator[bytes]) -> None:
        batches = _named_csv(where, csv_rows(chunks))
        first = next(batches, None)
        if first is None:
            if document.whole_upload:
                raise ExportError(f"{where}: an empty CSV file; {_OTHER_SOURCES} were expected")
            self.ignored_files[document.name] = "an empty CSV file"
            return
        try:
            listen_file = _csv_listen_file(first, batches)
        except FileFault as fault:
            raise ExportError(
                f"{where}: {fault}; nothing was imported, upload the file as it was exported"
            ) from None
        if listen_file is None:
            reason = (
                _NEWER_PLAY_ACTIVITY
                if apple_rows.is_newer_play_activity(first[0])
                else "a CSV file of no listening history we read"
            )
            if document.whole_upload:
                newer = reason == _NEWER_PLAY_ACTIVITY
                raise ExportError(f"{where}: " + (reason if newer else _unknown_columns(first[0])))
            for _ in batches:
                pass
            self.ignored_files[document.name] = reason
            return
        self._read_listens(document.name, where, listen_file)

    def _read_listens(self, name: str, where: str, listen_file: _ListenFile) -> None:
        window = self.dates.of_source(listen_file.source)
        tally = _FileTally()
        try:
            for rows in listen_file.batches:
                tally.read(rows, self.listens, listen_file.to_play, window)
                self.listens.hand_over(at_least=HAND_ROWS)
        except FileFault as fault:
            row = (fault.row or 0) + listen_file.first_row - 1
            raise ExportError(
                f"{where}: row {row}: {fault}; nothing was imported, {_REMEDY[listen_file.source]}"
            ) from None
        self.listens.hand_over()
        self.listen_reports.append(tally.report(name, listen_file.kind))
        if listen_file.source not in self.sources:
            self.sources.append(listen_file.source)

    def _read_spotify(self, name: str, kind: HistoryKind, rows: Iterator[RowBatch]) -> None:
        if kind is HistoryKind.EXTENDED:
            self.extended_reports.append(
                _read_history_file(
                    name,
                    kind,
                    rows,
                    self.extended,
                    self.dates.extended,
                    typed_extended_play,
                    extended_row_play,
                )
            )
        elif kind is HistoryKind.ACCOUNT_MUSIC:
            merger = _PlayMerger(_discard) if self.extended_reports and self.hand else self.account
            self.account_reports.append(
                _read_history_file(
                    name,
                    kind,
                    rows,
                    merger,
                    self.dates.account,
                    account_row_play,
                    account_row_play,
                )
            )
        else:
            # Podcast and audiobook files are set aside whole: none of their rows is music.
            count = sum(len(batch.rows) for batch in rows)
            podcasts = count if kind is HistoryKind.ACCOUNT_PODCAST else 0
            self.account_reports.append(
                FileReport(name, kind, count, 0, 0, podcasts, count - podcasts)
            )

    def parsed(self) -> ParsedExport:
        spotify = self._spotify()
        listens = (
            self.listens.parsed(
                "+".join(sorted(self.sources)), self.listen_reports, self.ignored_files
            )
            if self.listen_reports
            else None
        )
        if spotify is None and listens is None:
            raise ExportError(
                f"{self.export_name}: no Spotify listening history inside ({_EXPECTED_FILES}) "
                f"nor {_OTHER_SOURCES}; {_HOW_TO_GET_IT}"
            )
        if spotify is None or listens is None:
            return cast(ParsedExport, spotify or listens)
        return _combined(spotify, listens)

    def _spotify(self) -> ParsedExport | None:
        if self.extended_reports:
            for report in self.account_reports:
                self.ignored_files[report.name] = "account data, superseded by the extended history"
            withdrawn = self.account.handed_keys() if self.hand else []
            return self.extended.parsed(
                "extended", self.extended_reports, self.ignored_files, withdrawn
            )
        if self.account_reports:
            return self.account.parsed("account", self.account_reports, self.ignored_files)
        return None


def _combined(spotify: ParsedExport, listens: ParsedExport) -> ParsedExport:
    """One export of the plays of both (their keys never collide), sorted by `ended_at`."""
    plays = sorted([*spotify.plays, *listens.plays], key=attrgetter("ended_at"))
    late = (
        None
        if spotify.handed_late is None and listens.handed_late is None
        else [*(spotify.handed_late or []), *(listens.handed_late or [])]
    )
    return ParsedExport(
        f"{spotify.format}+{listens.format}",
        plays,
        [*spotify.files, *listens.files],
        spotify.ignored_files,
        late,
        [*spotify.withdrawn_keys, *listens.withdrawn_keys],
    )


def _csv_listen_file(
    first: list[list[str]], batches: Iterator[list[list[str]]]
) -> _ListenFile | None:
    """The listening history a CSV file holds, from its first batch of rows, or None."""
    header = first[0]
    kind = lastfm_rows.lastfm_csv_kind(first)
    if kind is HistoryKind.LASTFM_GHAN:
        to_play = lastfm_rows.ghan_reader(header)
        rows = itertools.chain([first[1:]], batches)
        return _ListenFile(kind, "lastfm", rows, to_play, first_row=2)
    if kind is HistoryKind.LASTFM_TO_CSV:
        rows = itertools.chain([first], batches)
        return _ListenFile(kind, "lastfm", rows, lastfm_rows.lastfm_to_csv_play)
    apple = apple_rows.apple_reader(header)
    if apple is not None:
        apple_kind, to_play = apple
        rows = itertools.chain([first[1:]], batches)
        return _ListenFile(apple_kind, "apple_music", rows, to_play, first_row=2)
    return None


_NEWER_PLAY_ACTIVITY = (
    "Apple's newer Play Activity layout (Song Name, no artist) is not read yet; upload "
    "Apple Music - Track Play History.csv for those plays"
)


def _unknown_columns(header: list[str]) -> str:
    shown = ", ".join(header[:8]) + (", ..." if len(header) > 8 else "")
    return (
        f"a CSV file whose columns ({shown[:300]}) are no listening history we read; expected "
        f"Last.fm scrobbles (artist,album,track,date with no header, as lastfm-to-csv writes, "
        f"or lastfm.ghan.nl's {','.join(lastfm_rows.GHAN_COLUMNS)}) or "
        f"{apple_rows.EXPECTED_FILES}"
    )


def _named_csv(where: str, batches: Iterator[list[list[str]]]) -> Iterator[list[list[str]]]:
    """`batches` with the CSV decoder's faults as ExportErrors that name the file."""
    try:
        yield from batches
    except CsvFault as fault:
        raise ExportError(
            f"{where} is not well-formed CSV at row {fault.row}: {fault.message}; nothing was "
            "imported, upload the file as it was exported"
        ) from None
    except NotUtf8:
        raise ExportError(
            f"{where} is not UTF-8 text; nothing was imported, upload the file as it was exported"
        ) from None


def _assemble(
    export_name: str,
    documents: Iterator[_Document],
    dates: _Windows,
    hand: Callable[[list[Play]], None] | None = None,
) -> ParsedExport:
    """Parse each history file as it is read, a batch of rows at a time (with `hand`, only
    the batch and the keys seen are in memory).

    The extended history supersedes the account data: when both are present, the account files
    are ignored so no stream is counted twice under two different keys. Account plays handed
    over before an extended file came are withdrawn at the end; account files read after one
    are only checked. Other sources' files are read beside them (cross-source matching of the
    same play is not done here)."""
    assembly = _Assembly(export_name, dates, hand)
    for document in documents:
        assembly.read(document)
    return assembly.parsed()


def _read_history_file(
    name: str,
    kind: HistoryKind,
    batches: Iterator[RowBatch],
    merger: _PlayMerger,
    window: PlayWindow,
    typed_play: Callable[[Any], tuple[str, Play] | NotMusic],
    checked_play: Callable[[Any], tuple[str, Play] | NotMusic],
) -> FileReport:
    tally = _FileTally()
    for batch in batches:
        tally.read(batch.rows, merger, typed_play if batch.typed else checked_play, window)
        merger.hand_over(at_least=HAND_ROWS)
    merger.hand_over()
    return tally.report(name, kind)


def _refuse_single(where: str, start: _FileStart) -> None:
    """The errors of an upload that is one JSON file holding no listening history."""
    if start.other is not None:
        what = (
            f"a JSON {type(start.other.value).__name__}"
            if start.other.value is not None or start.other.size <= MAX_OTHER_BYTES
            else f"a {_mebibytes(start.other.size)} JSON document"
        )
        raise ExportError(
            f"{where}: {what}, not a list of listening-history rows; "
            f"{_EXPECTED_FILES} from the export, or {_HOW_TO_GET_IT}"
        )
    if not any(batch.rows for batch in start.held):
        raise ExportError(
            f"{where}: holds no listening-history rows (an empty list); {_HOW_TO_GET_IT}"
        )
    raise ExportError(
        f"{where}: its rows are not Spotify listening history (no ts/ms_played or "
        f"endTime/msPlayed keys); {_EXPECTED_FILES}, or {_HOW_TO_GET_IT}"
    )


def _mebibytes(size: int) -> str:
    return f"{size / (1024 * 1024):,.0f} MiB"
