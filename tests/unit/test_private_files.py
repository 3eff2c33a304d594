"""Every file the local stack and the CLI write that holds a secret (stack.json with
DATABASE_URL, secret.key, admin.token, credentials.json) is readable only by its owner from its
first byte, also when an older copy was left world-readable; their folder is the owner's."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tools.cli import app as cli
from tools.stack import local
from tools.stack.local import LocalStack, StackState

SECRET_URL = "postgresql://fullcircle:a-password@127.0.0.1:5432/fullcircle"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The loosest umask: a file made with the default mode would be world-readable."""
    previous = os.umask(0)
    yield
    os.umask(previous)


@pytest.fixture
def renames(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int, str]]:
    """Every file put in place, with its mode and content at the moment it got its name."""
    seen: list[tuple[str, int, str]] = []
    replace = os.replace

    def watched(source: str, target: str | Path) -> None:
        seen.append((Path(target).name, _mode(Path(source)), Path(source).read_text()))
        replace(source, target)

    monkeypatch.setattr(local.os, "replace", watched)
    return seen


WRITERS: dict[str, Callable[[Path], None]] = {
    "stack.json": lambda folder: StackState(str(folder), SECRET_URL, "redis://r", "").save(),
    "secret.key": lambda folder: (LocalStack(folder, {}).token_secret(), None)[1],
    "admin.token": lambda folder: (LocalStack(folder, {}).admin_token(), None)[1],
    "credentials.json": lambda folder: cli._save_key(folder, "ana", "fc_0123456789ab_secret"),
}


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_a_secret_file_is_private_from_its_first_byte(
    tmp_path: Path, open_umask: None, renames: list[tuple[str, int, str]], name: str
) -> None:
    WRITERS[name](tmp_path)
    assert _mode(tmp_path / name) == 0o600
    assert renames and all(mode == 0o600 and text for _, mode, text in renames), renames
    assert [path.name for path in tmp_path.iterdir()] == [name], "no temporary file left"


@pytest.mark.parametrize("name", ["stack.json", "credentials.json"])
def test_a_world_readable_copy_is_replaced_by_a_private_one(
    tmp_path: Path, open_umask: None, name: str
) -> None:
    loose = tmp_path / name
    loose.write_text("{}")
    loose.chmod(0o666)
    WRITERS[name](tmp_path)
    assert _mode(loose) == 0o600 and loose.read_text() != "{}"


@pytest.mark.parametrize("name", ["secret.key", "admin.token"])
def test_a_kept_secret_left_world_readable_is_tightened_and_kept(tmp_path: Path, name: str) -> None:
    kept = tmp_path / name
    kept.write_text("a-secret-made-by-an-older-version\n")
    kept.chmod(0o644)
    stack = LocalStack(tmp_path, {})
    read = stack.token_secret() if name == "secret.key" else stack.admin_token()
    assert read == "a-secret-made-by-an-older-version"
    assert _mode(kept) == 0o600


def test_reading_the_state_tightens_a_loose_stack_json(tmp_path: Path) -> None:
    StackState(str(tmp_path), SECRET_URL, "redis://r", "").save()
    (tmp_path / "stack.json").chmod(0o644)
    state = StackState.load(tmp_path)
    assert state is not None and state.database_url == SECRET_URL
    assert _mode(tmp_path / "stack.json") == 0o600


def test_the_data_folder_and_its_logs_are_the_owners(tmp_path: Path, open_umask: None) -> None:
    folder = tmp_path / "stack"
    folder.mkdir(mode=0o777)
    # DATABASE_URL set: no embedded PostgreSQL, whose own user would need to pass through
    stack = LocalStack(folder, {"DATABASE_URL": SECRET_URL})
    stack.prepare_folders()
    assert _mode(folder) == 0o700 and _mode(folder / "logs") == 0o700


def test_with_embedded_postgres_as_root_the_folder_is_passable_not_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local.os, "geteuid", lambda: 0)
    LocalStack(tmp_path, {}).prepare_folders()
    assert _mode(tmp_path) == 0o711 and _mode(tmp_path / "logs") == 0o700


def test_service_logs_are_the_owners(tmp_path: Path, open_umask: None) -> None:
    stack = LocalStack(tmp_path, {"DATABASE_URL": SECRET_URL})
    stack.prepare_folders()
    for _ in range(2):  # the second start appends to the same log
        os.waitpid(stack._spawn("model", ["python", "-c", "print('started')"], {}), 0)
    assert _mode(stack.logs / "model.log") == 0o600
    assert (stack.logs / "model.log").read_text() == "started\nstarted\n"
