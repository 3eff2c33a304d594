"""A folder of export files uploaded as one zip (the gateway takes one file per import).

`fullcircle import ~/Downloads/my_spotify_data` zips the folder's JSON, JSON Lines and CSV
files (the only ones ingest reads; each is then recognised by its content) into a temporary
file named after the folder, uploads that and deletes it: deflated, a Spotify export is a
fifth of its size on the wire, and the server reads the zip exactly as it reads the one
Spotify sends. Symbolic links are left out, as ingest leaves them out of a folder it reads.
"""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

READ_SUFFIXES = (".json", ".jsonl", ".csv")


class EmptyFolder(ValueError):
    """The folder holds no file an import reads."""


@contextmanager
def folder_zipped(folder: Path) -> Iterator[Path]:
    """The folder's readable files zipped into `<folder name>.zip` in a temporary directory,
    removed when the block ends. Raises EmptyFolder when there is nothing to upload."""
    files = sorted(
        path
        for path in folder.rglob("*")
        if path.is_file() and not path.is_symlink() and path.name.lower().endswith(READ_SUFFIXES)
    )
    if not files:
        raise EmptyFolder(
            f"{folder}: no JSON or CSV file in it; unzip the export into it, or pass the zip"
        )
    with tempfile.TemporaryDirectory(prefix="fullcircle-upload-") as spool:
        zipped = Path(spool) / f"{folder.name or 'export'}.zip"
        with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                archive.write(path, path.relative_to(folder).as_posix())
        yield zipped
