"""An upload as it arrives: chunks gathered into parts of a fixed size, its size and SHA-256
kept as it goes (never the whole file at once), and the checks a caller's upload must pass
(its name, its declared size, the size limit), each with a message that says what to do."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from fullcircle.errors import AlreadyExists, InvalidArgument, ResourceExhausted

UPLOAD_PART_BYTES = 4 * 2**20
MAX_FILE_NAME = 255


def over_limit(limit_bytes: int, size_bytes: int | None = None) -> ResourceExhausted:
    """The refusal of an upload over the size limit (`size_bytes` when the caller declared it)."""
    this_one = f" (this one is {size_bytes / 2**20:,.1f} MiB)" if size_bytes else ""
    return ResourceExhausted(
        f"upload over the {limit_bytes // 2**20} MiB limit{this_one}; upload the Spotify zip "
        "as delivered or its JSON files one by one"
    )


@dataclass(frozen=True)
class EarlierUpload:
    """An upload of the same bytes by the same listener whose import is done or running."""

    import_id: UUID
    file_name: str
    created_at: datetime
    outcome: str | None


def already_uploaded(earlier: EarlierUpload) -> AlreadyExists:
    """The refusal of a copy of an earlier upload: which import holds it, and what to do."""
    state = "is done" if earlier.outcome == "done" else "is still running"
    return AlreadyExists(
        f"you uploaded this file before: import {earlier.import_id} ({earlier.file_name}, "
        f"{earlier.created_at:%Y-%m-%d %H:%M} UTC) {state}; nothing new was stored. Follow it "
        "with WatchImport, or delete that import's plays first to import the file again"
    )


def empty_upload() -> InvalidArgument:
    return InvalidArgument("the upload is empty; send the export's bytes in ImportChunk.data")


def checked_file_name(name: str) -> str:
    """The name a chunk gives the export: its last path part, at most 255 characters."""
    if "\x00" in name:
        raise InvalidArgument("the file name holds a NUL character; name the file plainly")
    return name.rsplit("/", 1)[-1][:MAX_FILE_NAME]


def checked_declared_size(size_bytes: int, limit_bytes: int) -> int:
    """The size a caller declared before sending (0: not declared), refused when over the limit
    so that no byte of it is sent."""
    if size_bytes < 0:
        raise InvalidArgument(f"size_bytes is the upload's size in bytes, not {size_bytes}")
    if size_bytes > limit_bytes:
        raise over_limit(limit_bytes, size_bytes)
    return size_bytes


class PartAssembler:
    """Chunks in, full parts out: holds at most one part's worth of bytes, counts the size and
    hashes as it goes, and refuses the upload as soon as it passes `limit_bytes` (or the size
    the caller declared)."""

    def __init__(
        self, limit_bytes: int, part_bytes: int = UPLOAD_PART_BYTES, declared_bytes: int = 0
    ) -> None:
        self.limit_bytes = limit_bytes
        self.part_bytes = part_bytes
        self.declared_bytes = declared_bytes
        self.size_bytes = 0
        self._sha256 = hashlib.sha256()
        # the chunks (views of them) waiting for their part to fill: joined once, when it has
        self._pending: list[memoryview] = []
        self.buffered_bytes = 0  # always less than one part

    def add(self, data: bytes) -> Iterator[bytes]:
        """Take one chunk; the parts it filled, in order."""
        self.size_bytes += len(data)
        if self.size_bytes > self.limit_bytes:
            raise over_limit(self.limit_bytes)
        if self.declared_bytes and self.size_bytes > self.declared_bytes:
            raise InvalidArgument(
                f"the upload is longer than the {self.declared_bytes:,} bytes its size_bytes "
                "said; declare the file's real size"
            )
        self._sha256.update(data)
        rest = memoryview(data)
        while self.buffered_bytes + len(rest) >= self.part_bytes:
            fill = self.part_bytes - self.buffered_bytes
            part = b"".join([*self._pending, rest[:fill]])
            self._pending, self.buffered_bytes, rest = [], 0, rest[fill:]
            yield part
        if rest:
            self._pending.append(rest)
            self.buffered_bytes += len(rest)

    def last_part(self) -> bytes:
        """What is left after the last chunk (empty when the parts came out even); refuses an
        upload that is empty or shorter than the size it declared."""
        if self.size_bytes == 0:
            raise empty_upload()
        if self.declared_bytes and self.size_bytes != self.declared_bytes:
            raise InvalidArgument(
                f"the upload ended after {self.size_bytes:,} of the {self.declared_bytes:,} "
                "bytes its size_bytes said; send the whole file again"
            )
        part = b"".join(self._pending)
        self._pending, self.buffered_bytes = [], 0
        return part

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()
