"""The migration runner on a real PostgreSQL: applies once, refuses edited history."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from fullcircle.db import MigrationError, apply_migrations

pytestmark = pytest.mark.integration


async def test_every_service_owns_its_schema(migrated_database: str) -> None:
    with psycopg.connect(migrated_database) as conn:
        schemas = {
            row[0] for row in conn.execute("SELECT schema_name FROM information_schema.schemata")
        }
    assert {"gateway", "ingest", "enrich", "features", "model"} <= schemas


async def test_reapplying_is_a_no_op(migrated_database: str) -> None:
    root = Path(__file__).resolve().parents[2]
    assert (
        await apply_migrations(migrated_database, "ingest", root / "services/ingest/migrations")
        == []
    )


async def test_an_edited_applied_migration_is_refused(
    migrated_database: str, tmp_path: Path
) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "001_first.sql").write_text("CREATE TABLE public.mig_probe (id int);")
    assert await apply_migrations(migrated_database, "probe", folder) == ["001_first.sql"]
    (folder / "001_first.sql").write_text("CREATE TABLE public.mig_probe (id bigint);")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        await apply_migrations(migrated_database, "probe", folder)


async def test_a_failing_migration_leaves_nothing_behind(
    migrated_database: str, tmp_path: Path
) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "001_half.sql").write_text(
        "CREATE TABLE public.half_applied (id int); SELECT no_such_function();"
    )
    with pytest.raises(psycopg.errors.UndefinedFunction):
        await apply_migrations(migrated_database, "half", folder)
    with psycopg.connect(migrated_database) as conn:
        assert conn.execute("SELECT to_regclass('public.half_applied')").fetchone() == (None,)
        assert conn.execute(
            "SELECT count(*) FROM public.schema_migrations WHERE service = 'half'"
        ).fetchone() == (0,)
