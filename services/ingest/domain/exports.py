"""Read a Spotify listening-history export (zip, folder or one JSON file) into deduplicated plays.

All-or-nothing rule: a payload that is not a zip/JSON, or any JSON file in it that fails to parse,
rejects the whole import (ExportError, nothing stored); inside valid files, rows with wrong value
types or implausible dates (see `plausible`) are rejected one by one, counted by reason in the
file's report, and the good rows are kept.

Memory is bounded whatever the upload: files are decoded a batch of rows at a time as their
bytes arrive (`json_rows`), zip members inflated a chunk at a time under one running limit, and
a parse that hands its plays over (`hand`) keeps only their keys.
"""

from __future__ import annotations

import io
import itertools
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

from services.ingest.domain.history_rows import (
    HistoryKind,
    NotMusic,
    RowRejected,
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
)
from services.ingest.domain.plausible import PlayWindow, play_window
from services.ingest.domain.plays import Play

ExportFormat = Literal["extended", "account"]

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
    if first in (b"[", b"{"):
        document = _Document(name, json_rows(chunks), whole_upload=True)
        return _assemble(name, iter([document]), dates, hand)
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
    (`requested_at` as in `read_export`), streamed as an upload is."""
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

    @classmethod
    def of(cls, requested_at: datetime | None) -> _Windows:
        moment = datetime.now(UTC) if requested_at is None else requested_at
        return cls(play_window("extended", moment), play_window("account", moment))


@dataclass(slots=True)
class _Document:
    """One file of an export: its rows as they are decoded, or why it was set aside unread."""

    name: str
    batches: Iterator[RowBatch | OtherValue] | None = None
    ignored_because: str | None = None
    whole_upload: bool = False  # the upload is this one JSON file


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
                yield _Document(event.name, json_rows(chunks))
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
    if not info.filename.lower().endswith(".json"):
        return "not a JSON file"
    return None


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
        yield _Document(name, json_rows(_file_chunks(path)))


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

    def read(
        self,
        rows: Sequence[Any],
        merger: _PlayMerger,
        to_play: Callable[[Any], tuple[str, Play] | NotMusic],
        window: PlayWindow,
    ) -> None:
        music_plays = duplicates = podcasts = audiobooks = 0
        rejected = self.rejected
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
        )


@dataclass(slots=True)
class _FileStart:
    """A file's first rows (enough to tell its kind), or its value when it is not a list."""

    held: list[RowBatch]
    kind: HistoryKind | None
    other: OtherValue | None


def _file_start(batches: Iterator[RowBatch | OtherValue]) -> _FileStart:
    held: list[RowBatch] = []
    seen = 0
    for batch in batches:
        if isinstance(batch, OtherValue):
            return _FileStart(held, None, batch)
        held.append(batch)
        for row in batch.rows[: _ROWS_SNIFFED - seen]:
            kind = HistoryKind.EXTENDED if batch.typed else history_kind([row])
            if kind is not None:
                return _FileStart(held, kind, None)
        seen += len(batch.rows)
        if seen >= _ROWS_SNIFFED:
            break
    return _FileStart(held, None, None)


_ROWS_SNIFFED = 20


def _handing_out(held: list[RowBatch]) -> Iterator[RowBatch]:
    """The held batches, each let go of once read (not kept until the file ends)."""
    held.reverse()
    while held:
        yield held.pop()


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
    are only checked."""
    extended, account = _PlayMerger(hand), _PlayMerger(hand)
    extended_reports: list[FileReport] = []
    account_reports: list[FileReport] = []
    ignored_files: dict[str, str] = {}
    for document in documents:
        if document.batches is None:
            ignored_files[document.name] = document.ignored_because or "not read"
            continue
        where = document.name if document.whole_upload else f"{export_name}: {document.name}"
        batches = _named(where, document.batches)
        start = _file_start(batches)
        if start.other is not None or start.kind is None:
            if document.whole_upload:
                _refuse_single(where, start)
            for _ in batches:  # still checked: a damaged file rejects the import
                pass
            ignored_files[document.name] = (
                "not a list of listening-history rows"
                if start.other is not None
                else "its rows are not listening history"
            )
            continue
        rows = itertools.chain(_handing_out(start.held), cast(Iterator[RowBatch], batches))
        if start.kind is HistoryKind.EXTENDED:
            extended_reports.append(
                _read_history_file(
                    document.name,
                    start.kind,
                    rows,
                    extended,
                    dates.extended,
                    typed_extended_play,
                    extended_row_play,
                )
            )
        elif start.kind is HistoryKind.ACCOUNT_MUSIC:
            merger = _PlayMerger(_discard) if extended_reports and hand else account
            account_reports.append(
                _read_history_file(
                    document.name,
                    start.kind,
                    rows,
                    merger,
                    dates.account,
                    account_row_play,
                    account_row_play,
                )
            )
        else:
            # Podcast and audiobook files are set aside whole: none of their rows is music.
            count = sum(len(batch.rows) for batch in rows)
            podcasts = count if start.kind is HistoryKind.ACCOUNT_PODCAST else 0
            account_reports.append(
                FileReport(document.name, start.kind, count, 0, 0, podcasts, count - podcasts)
            )
    if extended_reports:
        for report in account_reports:
            ignored_files[report.name] = "account data, superseded by the extended history"
        withdrawn = account.handed_keys() if hand else []
        return extended.parsed("extended", extended_reports, ignored_files, withdrawn)
    if account_reports:
        return account.parsed("account", account_reports, ignored_files)
    raise ExportError(
        f"{export_name}: no Spotify listening history inside ({_EXPECTED_FILES}); {_HOW_TO_GET_IT}"
    )


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
