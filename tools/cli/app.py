"""`fullcircle`: run the local stack, manage listeners, import histories, read recommendations,
and run the evaluation protocols."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar
from uuid import UUID

import grpc
import typer
from google.protobuf.json_format import MessageToDict
from redis.asyncio import Redis
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from fullcircle.bus import (
    drop_dead_letter,
    get_dead_letter,
    list_dead_letters,
    replay_dead_letter,
)
from fullcircle.client import AdminClient, FullCircleClient
from fullcircle.v1 import common_pb2, gateway_pb2
from tools.cli.folder_upload import EmptyFolder, folder_zipped
from tools.stack.local import (
    STACK_SERVICES,
    LocalStack,
    StackError,
    StackState,
    default_data_dir,
    private_dir,
    read_private,
    write_private,
)

app = typer.Typer(
    help="Full-Circle: music discovery from your own listening history.", no_args_is_help=True
)
user_app = typer.Typer(help="Listeners and their API keys.", no_args_is_help=True)
eval_app = typer.Typer(help="The quality protocols of EVALUATION.md.", no_args_is_help=True)
dlq_app = typer.Typer(help="Messages that kept failing (dead letters).", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(dlq_app, name="dlq")
spotify_app = typer.Typer(help="Link a Spotify account for live sync.", no_args_is_help=True)
app.add_typer(spotify_app, name="spotify")
app.add_typer(eval_app, name="eval")
plays_app = typer.Typer(help="The listener's stored plays.", no_args_is_help=True)
app.add_typer(plays_app, name="plays")
account_app = typer.Typer(help="The listener's account.", no_args_is_help=True)
app.add_typer(account_app, name="account")
exclude_app = typer.Typer(
    help="Leave plays out of the listener's taste (and undo it).", no_args_is_help=True
)
app.add_typer(exclude_app, name="exclude")
console = Console()
T = TypeVar("T")

DataDir = Annotated[Path, typer.Option("--data-dir", help="the stack's data folder")]
DEFAULT_DATA_DIR = default_data_dir()
UserOpt = Annotated[str, typer.Option("--user", help="the listener's name")]


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def _fail(message: str) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(1)


def _stack_state(data_dir: Path) -> StackState:
    state = LocalStack(data_dir).running()
    if state is None:
        raise _fail(
            f"the stack is not running (data folder {data_dir}); start it with "
            "`fullcircle up --detach`"
        )
    return state


def _credentials_file(data_dir: Path) -> Path:
    return data_dir / "credentials.json"


def _load_credentials(data_dir: Path) -> dict[str, str]:
    path = _credentials_file(data_dir)
    return json.loads(read_private(path)) if path.exists() else {}


def _save_credentials(data_dir: Path, credentials: dict[str, str]) -> None:
    """Keep the CLI's copies of keys in a file only its owner can read (like ~/.netrc)."""
    write_private(_credentials_file(data_dir), json.dumps(credentials, indent=2))


def _save_key(data_dir: Path, name: str, api_key: str) -> None:
    _save_credentials(data_dir, {**_load_credentials(data_dir), name: api_key})


def _admin_call(data_dir: Path, call: Callable[[AdminClient], Awaitable[T]]) -> T:
    """One call of the gateway's Admin API with the admin token: FULLCIRCLE_ADMIN_TOKEN, or
    the one the local stack keeps in its data folder; its errors end the command as messages."""
    state = _stack_state(data_dir)
    token = os.environ.get("FULLCIRCLE_ADMIN_TOKEN") or LocalStack(data_dir).admin_token()

    async def run() -> T:
        async with AdminClient(state.gateway_address, token) as admin:
            return await call(admin)

    try:
        return _run(run())
    except grpc.aio.AioRpcError as exc:
        raise _fail(exc.details() or str(exc.code())) from None


def _gateway(data_dir: Path, user: str) -> tuple[str, str]:
    """The gateway address and the user's API key (clients are made inside the event loop)."""
    state = _stack_state(data_dir)
    api_key = os.environ.get("FULLCIRCLE_API_KEY") or _load_credentials(data_dir).get(user)
    if not api_key:
        raise _fail(
            f"no API key for {user!r}: create the user with `fullcircle user add {user}` "
            "or set FULLCIRCLE_API_KEY"
        )
    return state.gateway_address, api_key


@app.command()
def up(
    detach: Annotated[bool, typer.Option("--detach", help="return once healthy")] = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Start PostgreSQL and Redis (embedded unless DATABASE_URL / REDIS_URL are set) and the
    five services, and wait until all are healthy. On a running stack, start only the services
    that are not running and leave the others alone."""
    stack = LocalStack(data_dir)
    try:
        state = stack.up(report=lambda line: console.print(f"[dim]{line}[/]"))
    except StackError as exc:
        raise _fail(str(exc)) from None
    console.print(
        f"[green]Full-Circle is up[/]: gateway on {state.gateway_address}, "
        f"web app on {state.web_url}, logs in {data_dir / 'logs'}"
    )
    if detach:
        return
    console.print("Ctrl-C stops it.")
    try:
        while stack.running():
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    stack.down(report=lambda line: console.print(f"[dim]{line}[/]"))


@app.command()
def restart(
    service: Annotated[
        str, typer.Argument(help="one of " + ", ".join(STACK_SERVICES) + ", or a replica")
    ],
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Restart one service of the running stack: stop it if it runs (it drains), start it on
    its ports, wait until it is healthy. The other services keep running."""
    try:
        state = LocalStack(data_dir).restart(service, kill=False)
    except StackError as exc:
        raise _fail(str(exc)) from None
    console.print(f"[green]{service} restarted[/] (pid {state.pids[service]})")


@app.command()
def down(data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Stop the services and the embedded servers; the data stays in the data folder."""
    LocalStack(data_dir).down(report=lambda line: console.print(f"[dim]{line}[/]"))


@app.command()
def status(data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Whether each service runs and answers its health check."""
    from fullcircle.grpc_server import check_health

    state = StackState.load(data_dir)
    if state is None or not state.pids:
        raise _fail("the stack is not running; start it with `fullcircle up --detach`")
    table = Table("service", "pid", "port", "health")
    for service in STACK_SERVICES:
        port = state.ports.get(service, 0)
        healthy = _run(check_health(f"127.0.0.1:{port}", 1.0)) if port else False
        table.add_row(
            service,
            str(state.pids.get(service, "-")),
            str(port),
            "[green]serving[/]" if healthy else "[red]down[/]",
        )
    console.print(table)
    if "web_http" in state.ports:
        console.print(f"web app: {state.web_url}")
    _print_progress(state)


_PROGRESS_SQL = """
SELECT u.name, count(*) AS artists,
       count(*) FILTER (WHERE a.status = 'ok') AS tagged,
       count(*) FILTER (WHERE a.status = 'not_found') AS not_found,
       (SELECT status FROM ingest.spotify_accounts sa WHERE sa.user_id = u.user_id) AS spotify
FROM features.artist_stats s
JOIN gateway.users u ON u.user_id = s.user_id
LEFT JOIN enrich.artists a ON a.artist_key = lower(s.artist_name)
GROUP BY u.user_id, u.name ORDER BY u.name
"""


def _print_progress(state: StackState) -> None:
    """Per listener: how far enrichment has got, and the Spotify link's state."""
    import psycopg

    try:
        with psycopg.connect(state.database_url, connect_timeout=5) as conn:
            rows = conn.execute(_PROGRESS_SQL).fetchall()
    except psycopg.Error as exc:
        console.print(f"[dim]no progress to show yet ({exc.__class__.__name__})[/]")
        return
    table = Table(
        "listener", "artists", "tagged", "not on Last.fm", "waiting", "Spotify", title="enrichment"
    )
    for name, artists, tagged, not_found, spotify in rows:
        table.add_row(
            name,
            str(artists),
            str(tagged),
            str(not_found),
            str(artists - tagged - not_found),
            spotify or "not linked",
        )
    console.print(table)
    console.print(f"Last.fm HTTP requests in the last hour: {_lastfm_requests(state):,}")


def _lastfm_requests(state: StackState) -> int:
    """What every enrich replica sent to Last.fm in the last hour, retries and pages included
    (the counters they keep in Redis)."""
    from services.enrich.adapters.request_count import requests_in_last

    async def read() -> int:
        redis = Redis.from_url(state.redis_url, socket_timeout=5)
        try:
            return await requests_in_last(redis)
        finally:
            await redis.aclose()

    return _run(read())


def _redis_call(data_dir: Path, action: Callable[[Redis], Awaitable[T]]) -> T:
    state = _stack_state(data_dir)

    async def run() -> T:
        redis = Redis.from_url(state.redis_url)
        try:
            return await action(redis)
        finally:
            await redis.aclose()

    return _run(run())


@dlq_app.command("list")
def dlq_list(data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Every dead letter: where it came from, which group gave up on it, and why."""
    letters = _redis_call(data_dir, list_dead_letters)
    if not letters:
        console.print("no dead letters")
        return
    table = Table("ref", "group", "failed at", "error")
    for letter in letters:
        table.add_row(letter.ref, letter.group, letter.failed_at, letter.error.splitlines()[0][:80])
    console.print(table)


@dlq_app.command("show")
def dlq_show(ref: str, data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """One dead letter in full (ref as `dlq list` prints it)."""
    letter = _redis_call(data_dir, lambda redis: get_dead_letter(redis, ref))
    if letter is None:
        raise _fail(f"no dead letter {ref}; `fullcircle dlq list` shows them")
    console.print(
        f"[bold]{letter.ref}[/] from {letter.stream}, group {letter.group}, "
        f"failed at {letter.failed_at}"
    )
    console.print(letter.error)
    console.print_json(letter.body.decode(errors="replace"))


@dlq_app.command("replay")
def dlq_replay(ref: str, data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Put a dead letter back on its stream (after the cause is fixed)."""
    try:
        new_id = _redis_call(data_dir, lambda redis: replay_dead_letter(redis, ref, 100_000))
    except KeyError:
        raise _fail(f"no dead letter {ref}; `fullcircle dlq list` shows them") from None
    console.print(f"replayed {ref} as {new_id}")


@dlq_app.command("drop")
def dlq_drop(ref: str, data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Delete a dead letter for good."""
    if not _redis_call(data_dir, lambda redis: drop_dead_letter(redis, ref)):
        raise _fail(f"no dead letter {ref}; `fullcircle dlq list` shows them")
    console.print(f"dropped {ref}")


@app.command()
def replay(
    user: Annotated[str | None, typer.Option("--user", help="only this listener")] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """After Redis lost its data: re-publish from PostgreSQL what starts the pipeline (every
    upload whose bytes are kept; the stored plays of the other imports and of live sync), so
    the services rebuild what they missed. Safe to repeat."""
    from fullcircle.bus import Bus
    from fullcircle.settings import FullCircleSettings
    from tools.cli.replay import replay as replay_from_postgres

    state = _stack_state(data_dir)
    user_id = UUID(_user_id(data_dir, user)) if user else None

    async def publish() -> Any:
        settings = FullCircleSettings(database_url=state.database_url, redis_url=state.redis_url)
        bus = Bus(settings, "replay")
        await bus.start()
        try:
            return await replay_from_postgres(state.database_url, bus, user_id)
        finally:
            await bus.stop()

    report = _run(publish())
    console.print(
        f"re-published {report.imports} imports from their uploads, {report.import_batches} "
        f"play batches of imports whose uploads are gone and {report.sync_batches} synced-play "
        f"batches of {report.listeners} listeners; `fullcircle status` shows the pipeline "
        "catching up"
    )


def _user_id(data_dir: Path, name: str) -> str:
    """A listener's id, as the gateway's Admin API knows them."""
    users = _admin_call(data_dir, lambda admin: admin.list_users())
    for listener in users:
        if listener.name == name:
            return str(listener.user_id)
    raise _fail(f"no user {name!r}; create it with `fullcircle user add {name}`")


@spotify_app.command("link")
def spotify_link(
    user: UserOpt,
    time_zone: Annotated[str, typer.Option(help="IANA zone of the sync schedule")] = "UTC",
    cron: Annotated[str, typer.Option(help="sync schedule (cron, in --time-zone)")] = (
        "0 8,14,22 * * *"
    ),
    redirect_url: Annotated[
        str | None, typer.Option(help="the address Spotify redirected to (asked if not given)")
    ] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Authorize Full-Circle to read your recently played tracks (Authorization Code + PKCE)."""
    gateway = _gateway(data_dir, user)

    async def link(**fields: str) -> gateway_pb2.LinkSpotifyReply:
        async with FullCircleClient(*gateway) as client:
            return await client.link_spotify(**fields)

    try:
        url = _run(link(time_zone=time_zone, cron=cron)).authorize_url
        if redirect_url is None:
            console.print(
                f"Open this address, allow access, then paste the address you land on:\n{url}"
            )
            redirect_url = typer.prompt("redirected to")
        linked = _run(link(redirect_url=redirect_url))
    except grpc.aio.AioRpcError as exc:
        raise _fail(exc.details() or str(exc.code())) from None
    console.print(f"[green]linked[/] Spotify for {user}; next sync at {linked.next_sync_at}")


@spotify_app.command("unlink")
def spotify_unlink(user: UserOpt, data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Forget the Spotify link and its tokens (the plays already imported stay)."""
    _admin_call(data_dir, lambda admin: admin.unlink_spotify(user))
    console.print(
        f"unlinked Spotify for {user}; you can also remove Full-Circle's access at "
        "spotify.com/account/apps"
    )


@app.command()
def sync(user: UserOpt, data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Fetch the listener's recent Spotify plays now (they must have linked Spotify)."""
    gateway = _gateway(data_dir, user)

    async def request() -> str:
        async with FullCircleClient(*gateway) as client:
            return await client.sync_spotify()

    try:
        request_id = _run(request())
    except grpc.aio.AioRpcError as exc:
        raise _fail(exc.details() or str(exc.code())) from None
    console.print(f"sync requested ({request_id}); new plays show up in `fullcircle recs`")


@plays_app.command("delete")
def plays_delete(
    user: UserOpt,
    import_id: Annotated[str, typer.Option("--import", help="one import's plays (its id)")] = "",
    played_from: Annotated[
        str, typer.Option("--from", help="plays that ended from this time (YYYY-MM-DD or RFC 3339)")
    ] = "",
    played_to: Annotated[str, typer.Option("--to", help="... up to (not including) this one")] = "",
    artist: Annotated[str, typer.Option("--artist", help="one artist's plays")] = "",
    everything: Annotated[bool, typer.Option("--all", help="every play and import")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="confirm: deleted plays are gone")] = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Delete plays: one import's, a time range's, one artist's or all; the profile is then
    recomputed and a new set made."""
    ranged = bool(played_from or played_to)
    if sum([bool(import_id), ranged, bool(artist), everything]) != 1:
        raise _fail(
            "name the plays with one of --import ID, --from DATE --to DATE, --artist, --all"
        )
    if ranged and not (played_from and played_to):
        raise _fail("a time range needs both --from and --to")
    if not yes:
        raise _fail("deleted plays cannot be brought back; add --yes to delete them")
    gateway = _gateway(data_dir, user)

    async def delete() -> list[gateway_pb2.DeletionReport]:
        async with FullCircleClient(*gateway) as client:
            return await client.delete_plays(
                import_id=import_id,
                played_between=(played_from, played_to) if ranged else None,
                artist=artist,
                everything=everything,
            )

    _print_deletion(_deletion(delete))


@account_app.command("delete")
def account_delete(
    user: UserOpt,
    yes: Annotated[
        bool, typer.Option("--yes", help="confirm: nothing can be brought back")
    ] = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Delete the listener's account: every play, profile, set, upload and key of theirs."""
    if not yes:
        raise _fail(f"this deletes {user}'s account and everything of theirs for good; add --yes")
    gateway = _gateway(data_dir, user)

    async def delete() -> list[gateway_pb2.DeletionReport]:
        async with FullCircleClient(*gateway) as client:
            return await client.delete_account()

    reports = _deletion(delete)
    credentials = _load_credentials(data_dir)
    if credentials.pop(user, None) is not None:
        _save_credentials(data_dir, credentials)
    _print_deletion(reports)


def _deletion(
    call: Callable[[], Coroutine[Any, Any, list[gateway_pb2.DeletionReport]]],
) -> list[gateway_pb2.DeletionReport]:
    """The reports of one deletion call; its errors end the command as messages."""
    try:
        return _run(call())
    except grpc.aio.AioRpcError as exc:
        raise _fail(exc.details() or str(exc.code())) from None


def _print_deletion(reports: list[gateway_pb2.DeletionReport]) -> None:
    table = Table("service", "removed", title="deleted")
    for report in reports[:-1]:
        removed = ", ".join(f"{rows:,} {kind}" for kind, rows in sorted(report.removed.items()))
        table.add_row(report.service, removed or "nothing")
    console.print(table)
    final = reports[-1]
    console.print(f"[{'yellow' if final.pending else 'green'}]done[/]: {final.message}")


@user_app.command("add")
def user_add(name: str, data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Create a listener; prints their API key once (the CLI keeps a copy in the data folder)."""
    created = _admin_call(data_dir, lambda admin: admin.create_user(name))
    _save_key(data_dir, name, created.api_key)
    console.print(f"user [bold]{name}[/] ({created.user_id})")
    console.print(f"API key (shown once): [bold]{created.api_key}[/]")


@user_app.command("key")
def user_key(name: str, data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Create another API key for a listener; prints it once (the CLI keeps this one)."""
    created = _admin_call(data_dir, lambda admin: admin.create_api_key(name))
    _save_key(data_dir, name, created.api_key)
    console.print(f"new API key for {name} (shown once): [bold]{created.api_key}[/]")


@user_app.command("revoke")
def user_revoke(key_id: str, data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Revoke an API key by its id: the 12 hex characters after `fc_`."""
    _admin_call(data_dir, lambda admin: admin.revoke_api_key(key_id))
    console.print(f"revoked {key_id}; gateways refuse it now and end its open streams")


def _listener_call(
    data_dir: Path, user: str, call: Callable[[FullCircleClient], Awaitable[T]]
) -> T:
    """One call of the listener's own API; its errors end the command as messages."""
    gateway = _gateway(data_dir, user)

    async def run() -> T:
        async with FullCircleClient(*gateway) as client:
            return await call(client)

    try:
        return _run(run())
    except grpc.aio.AioRpcError as exc:
        raise _fail(exc.details() or str(exc.code())) from None


@exclude_app.command("add")
def exclude_add(
    user: UserOpt,
    artist: Annotated[str, typer.Option(help="an artist, any case")] = "",
    track: Annotated[str, typer.Option(help="a track title (with --artist: theirs only)")] = "",
    played: Annotated[
        str, typer.Option(help="a window: 2020-03-01..2020-06-30, 'before 2019', 'after 2021-05'")
    ] = "",
    platform: Annotated[str, typer.Option(help="part of a platform's name")] = "",
    hours: Annotated[str, typer.Option(help="night, morning, afternoon, evening or 22-06")] = "",
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Leave the plays matching every option given out of the taste, past and future."""
    made = _listener_call(
        data_dir,
        user,
        lambda client: client.exclude(
            artist=artist, track=track, played_between=played, platform=platform, hours=hours
        ),
    )
    console.print(
        f"excluded {made.description} ({made.plays:,} plays) as [bold]{made.exclusion_id}[/];"
        " your profile is being recomputed without them"
    )


@exclude_app.command("list")
def exclude_list(user: UserOpt, data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """The listener's exclusions in force."""
    made = _listener_call(data_dir, user, lambda client: client.exclusions())
    table = Table("id", "excluded", "plays", "since", title="left out of your taste")
    for exclusion in made:
        table.add_row(
            exclusion.exclusion_id,
            exclusion.description,
            f"{exclusion.plays:,}",
            exclusion.created_at[:10],
        )
    console.print(table if made else "nothing is excluded from your taste")


@exclude_app.command("undo")
def exclude_undo(exclusion_id: str, user: UserOpt, data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Bring an exclusion's plays back into the taste."""
    undone = _listener_call(data_dir, user, lambda client: client.remove_exclusion(exclusion_id))
    console.print(f"{undone.description} count again; your profile is being recomputed")


@app.command()
def steer(
    user: UserOpt,
    more: Annotated[list[str] | None, typer.Option(help="a taste to hear more of")] = None,
    less: Annotated[list[str] | None, typer.Option(help="a taste to hear less of")] = None,
    reset: Annotated[list[str] | None, typer.Option(help="a taste to stop steering")] = None,
    familiarity: Annotated[
        float | None,
        typer.Option(help="0 deep cuts .. 1 popular (0.5 as ranked); negative clears it"),
    ] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Steer the listener's recommendations (kept); with no option, show the steering."""
    tastes = {t: "more" for t in more or []} | {t: "less" for t in less or []}
    tastes |= {t: "" for t in reset or []}
    if tastes or familiarity is not None:
        now = _listener_call(data_dir, user, lambda client: client.steer(tastes, familiarity))
    else:
        now = _listener_call(data_dir, user, lambda client: client.steering())
    console.print(f"steering: {now.description}")


@user_app.command("set")
def user_set(
    user: UserOpt,
    time_zone: Annotated[
        str,
        typer.Option(
            "--time-zone",
            help="IANA zone your contexts are read in, e.g. America/Sao_Paulo; '' infers it",
        ),
    ],
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Set a listener's own settings (their time zone) with their API key."""
    gateway = _gateway(data_dir, user)

    async def change() -> common_pb2.TimeZone:
        async with FullCircleClient(*gateway) as client:
            return await client.set_time_zone(time_zone)

    try:
        zone = _run(change())
    except grpc.aio.AioRpcError as exc:
        raise _fail(exc.details() or str(exc.code())) from None
    console.print(f"time zone: {zone.description}; your profile is being recomputed in it")


@user_app.command("list")
def user_list(data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Every listener, with their number of active API keys."""
    users = _admin_call(data_dir, lambda admin: admin.list_users())
    table = Table("listener", "id", "created", "active keys")
    for listener in users:
        table.add_row(
            listener.name, listener.user_id, listener.created_at, str(listener.active_keys)
        )
    console.print(table)


@app.command("import")
def import_history(path: Path, user: UserOpt, data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Upload a listening history and follow the import: Spotify's export (the zip as
    delivered, the folder it unzips to, or one of its JSON files), a Last.fm scrobble CSV, a
    ListenBrainz export, YouTube's watch-history.json, Apple Music's play-history CSVs, or a
    zip or folder of several of them."""
    if not path.is_file() and not path.is_dir():
        raise _fail(
            f"{path}: no such file or folder; pass the zip Spotify sent (my_spotify_data.zip), "
            "the folder it unzipped to, or a Last.fm, ListenBrainz, YouTube or Apple Music export"
        )
    gateway = _gateway(data_dir, user)
    if path.is_dir():
        try:
            with folder_zipped(path) as zipped:
                final = _run(_import(gateway, zipped, path.name))
        except EmptyFolder as empty:
            raise _fail(str(empty)) from None
    else:
        final = _run(_import(gateway, path, path.name))
    if final.stage != "done":
        raise _fail(final.message)
    _print_report(final)
    console.print(f"[green]imported[/]: {final.message}")


def _print_report(final: Any) -> None:
    table = Table(
        "file",
        "kind",
        "rows",
        "music plays",
        "merged",
        "podcasts",
        "audiobooks",
        "set aside",
        "rejected",
        title="import report",
    )
    for report in final.files:
        rejected = ", ".join(f"{count} {reason}" for reason, count in report.rejected.items())
        set_aside = ", ".join(f"{count} {reason}" for reason, count in report.set_aside.items())
        table.add_row(
            report.name,
            report.kind,
            f"{report.rows_read:,}",
            f"{report.music_plays:,}",
            f"{report.duplicates_merged:,}",
            f"{report.podcasts:,}",
            f"{report.audiobooks:,}",
            set_aside or "0",
            rejected or "0",
        )
    console.print(table)


async def _import(gateway: tuple[str, str], path: Path, shown_name: str) -> Any:
    async with FullCircleClient(*gateway) as client:
        try:
            import_id = await client.import_history(path)
        except grpc.aio.AioRpcError as exc:
            raise _fail(exc.details() or str(exc.code())) from None
        final = None
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task(f"uploading {shown_name}", total=None, counts="")
            async for update in client.watch_import(import_id):
                progress.update(
                    task,
                    description=f"{update.stage} {shown_name}",
                    total=update.plays_read or None,
                    completed=update.plays_stored,
                    counts=f"{update.plays_stored:,}/{update.plays_read:,} plays",
                )
                final = update
        return final


def _tracks_cell(item: common_pb2.Recommendation) -> str:
    """The tracks to play of a recommendation, one a line; "your plays" marks the listener's
    own most played ones (rediscovery), the others are the artist's top tracks on Last.fm."""
    if not item.tracks:
        return "-"
    mine = item.tracks[0].source == "your_plays"
    names = "\n".join(escape(track.name) for track in item.tracks)
    return f"{names}\n[dim](your plays)[/]" if mine else names


def _print_set(rec_set: common_pb2.RecommendationSet, title: str) -> None:
    table = Table(title=title, show_lines=False)
    table.add_column("#", justify="right")
    table.add_column("artist", style="bold")
    table.add_column("why")
    table.add_column("for your taste", style="dim")
    table.add_column("play")
    for rank, item in enumerate(rec_set.items, start=1):
        table.add_row(str(rank), item.artist, item.because, item.taste or "-", _tracks_cell(item))
    console.print(table)
    console.print(f"[dim]model {rec_set.model_version}, set {rec_set.set_id or '-'}[/]")


@app.command()
def recs(
    user: UserOpt,
    limit: Annotated[int, typer.Option(help="how many")] = 20,
    rediscover: Annotated[bool, typer.Option(help="forgotten favourites instead")] = False,
    prompt: Annotated[
        str, typer.Option(help='re-rank for a mood/context, e.g. "chill night"')
    ] = "",
    genre: Annotated[str, typer.Option(help='only artists of a genre, e.g. "latin"')] = "",
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Print the listener's current recommendations with their explanations."""
    mode = (
        common_pb2.RECOMMENDATION_MODE_REDISCOVERY
        if rediscover
        else common_pb2.RECOMMENDATION_MODE_DISCOVERY
    )

    gateway = _gateway(data_dir, user)

    async def fetch() -> common_pb2.RecommendationSet:
        async with FullCircleClient(*gateway) as client:
            return await client.recommendations(limit, mode, prompt, genre)

    try:
        rec_set = _run(fetch())
    except grpc.aio.AioRpcError as exc:
        raise _fail(exc.details() or str(exc.code())) from None
    if as_json:
        print(json.dumps(MessageToDict(rec_set), indent=2))
    else:
        _print_set(rec_set, f"recommendations for {user}")


@app.command()
def explain(artist: str, user: UserOpt, data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Every named part of one recommendation's score."""
    gateway = _gateway(data_dir, user)

    async def fetch() -> common_pb2.Recommendation:
        async with FullCircleClient(*gateway) as client:
            return await client.explain(artist)

    try:
        item = _run(fetch())
    except grpc.aio.AioRpcError as exc:
        raise _fail(exc.details() or str(exc.code())) from None
    console.print(f"[bold]{item.artist}[/] {item.because}")
    if item.tracks:
        console.print("play: " + ", ".join(escape(track.name) for track in item.tracks))
    table = Table("part", "kind", "share")
    for part in item.parts:
        table.add_row(part.label, part.kind, f"{part.percent}%")
    console.print(table)


@app.command()
def feedback(
    artist: str,
    user: UserOpt,
    like: Annotated[bool, typer.Option("--like", help="more like this")] = False,
    dislike: Annotated[bool, typer.Option("--dislike", help="never recommend it again")] = False,
    hide: Annotated[bool, typer.Option("--hide", help="not now: hide it for --days")] = False,
    days: Annotated[int, typer.Option(help="how long --hide lasts")] = 90,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Tell Full-Circle what you think of an artist; the next recommendations follow it."""
    chosen = [
        kind
        for flag, kind in (
            (like, common_pb2.FEEDBACK_KIND_LIKE),
            (dislike, common_pb2.FEEDBACK_KIND_DISLIKE),
            (hide, common_pb2.FEEDBACK_KIND_DO_NOT_RECOMMEND),
        )
        if flag
    ]
    if len(chosen) != 1:
        raise _fail("say one of --like, --dislike or --hide")
    gateway = _gateway(data_dir, user)

    async def send() -> str:
        async with FullCircleClient(*gateway) as client:
            return await client.feedback(artist, chosen[0], days if hide else 0)

    try:
        expires_at = _run(send())
    except grpc.aio.AioRpcError as exc:
        raise _fail(exc.details() or str(exc.code())) from None
    console.print(f"noted for {artist}" + (f", until {expires_at}" if expires_at else ""))


@app.command()
def profile(user: UserOpt, data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """The listener's taste: top artists and tags, tastes with their trends, contexts."""
    gateway = _gateway(data_dir, user)

    async def fetch() -> common_pb2.TasteProfile:
        async with FullCircleClient(*gateway) as client:
            return await client.taste_profile()

    try:
        taste = _run(fetch())
    except grpc.aio.AioRpcError as exc:
        raise _fail(exc.details() or str(exc.code())) from None
    console.print(f"{taste.plays:,} plays, {taste.listens:,} listens, {taste.artists:,} artists")
    console.print("top artists now: " + ", ".join(a.artist for a in taste.top_artists[:10]))
    if taste.recency:
        console.print(f"artist weights: {taste.recency}")
    console.print("top tags: " + ", ".join(t.tag for t in taste.top_tags[:10]))
    names = {c.cluster_id: c.name for c in taste.clusters}
    table = Table("taste", "all time", "last 90 days", "trend", "artists", title="tastes")
    for cluster in taste.clusters:
        table.add_row(
            cluster.name,
            f"{cluster.all_time_share:.0%}",
            f"{cluster.recent_share:.0%}",
            cluster.trend,
            ", ".join(cluster.artists[:4]),
        )
    console.print(table)
    contexts = Table("context", "listens", "leaning to", "mood", title="contexts")
    for context in taste.contexts:
        top = max(context.cluster_shares.items(), key=lambda item: item[1], default=(0, 0.0))
        contexts.add_row(
            f"{context.kind}: {context.context}",
            f"{context.listens:,}",
            f"{names.get(top[0], '-')} ({top[1]:.0%})",
            context_mood_words(context),
        )
    console.print(contexts)
    if taste.HasField("mood_coverage"):
        console.print(mood_coverage_words(taste.mood_coverage))
    if taste.HasField("time_zone"):
        console.print(f"contexts read in {taste.time_zone.description}")


def context_mood_words(context: common_pb2.ContextProfile) -> str:
    """A context's mood in words; "mood unknown" when none of its listens has one (its axes
    are then 0, which is no mood, not a neutral one)."""
    if context.mood_coverage <= 0:
        return "mood unknown"
    return (
        f"energy {context.energy:+.1f}, valence {context.valence:+.1f}"
        f" ({context.mood_coverage:.0%} of listens known)"
    )


def mood_coverage_words(coverage: common_pb2.MoodCoverage) -> str:
    return (
        f"moods known for {coverage.after:.0%} of {coverage.listens:,} listens"
        f" ({coverage.before:.0%} from the artists' own tags; the rest estimated from related"
        " tags and similar artists)"
    )


def prompt_mood_words(made: common_pb2.Playlist) -> str:
    """How the prompt's mood was read; "no mood asked" when it names none."""
    if made.mood_confidence <= 0:
        return "no mood asked"
    return f"energy {made.energy:+.1f}, valence {made.valence:+.1f}"


# Writing to Spotify waits out its rate limits (Retry-After) and retries its 5xx answers.
SPOTIFY_EXPORT_S = 300.0
PLAYLIST_FILES = {
    "m3u": gateway_pb2.PLAYLIST_FORMAT_FILE_M3U8,
    "m3u8": gateway_pb2.PLAYLIST_FORMAT_FILE_M3U8,
    "xspf": gateway_pb2.PLAYLIST_FORMAT_FILE_XSPF,
    "jspf": gateway_pb2.PLAYLIST_FORMAT_FILE_JSPF,
}


@app.command()
def playlist(
    prompt: str,
    user: UserOpt,
    to: Annotated[
        str, typer.Option("--to", help="also save it: spotify, or a file: m3u, xspf or jspf")
    ] = "",
    out: Annotated[
        Path | None, typer.Option("--out", help="the file (default: named from the prompt)")
    ] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """A playlist for a prompt, e.g. "high energy morning music" or "20 songs chill new night";
    with --to, saved into your Spotify account (a private playlist, replaced in place when you
    export the same prompt again) or as an M3U8, XSPF or JSPF file too."""
    gateway = _gateway(data_dir, user)
    to = to.lower()
    if to and to != "spotify" and to not in PLAYLIST_FILES:
        raise _fail(f"--to takes spotify, m3u, xspf or jspf, not {to[:40]!r}")
    if out is not None and to not in PLAYLIST_FILES:
        raise _fail("--out needs --to m3u, xspf or jspf")

    async def make() -> tuple[common_pb2.Playlist, gateway_pb2.PlaylistFile | None]:
        async with FullCircleClient(*gateway) as client:
            if not to:
                return await client.playlist(prompt), None
            if to == "spotify":
                written = await client.export_playlist(
                    prompt, gateway_pb2.PLAYLIST_FORMAT_SPOTIFY, deadline_s=SPOTIFY_EXPORT_S
                )
            else:
                written = await client.export_playlist(prompt, PLAYLIST_FILES[to])
            return written.playlist, written

    try:
        made, written = _run(make())
    except grpc.aio.AioRpcError as exc:
        raise _fail(exc.details() or str(exc.code())) from None
    console.print(
        f"read as: {prompt_mood_words(made)}, {made.hour_band or 'any time'}, {made.familiarity}"
    )
    table = Table("#", "artist", "track", "why")
    for rank, track in enumerate(made.tracks, start=1):
        table.add_row(str(rank), track.artist, track.track, track.reason)
    console.print(table)
    if made.left_out_note:
        console.print(made.left_out_note)
    if written is not None and written.HasField("spotify"):
        spotify = written.spotify
        done = "made" if spotify.created else "replaced in place"
        console.print(f"Spotify playlist {done}: {spotify.items} tracks, {spotify.url}")
        if written.without_uri:
            names = ", ".join(f"{t.artist} - {t.track}" for t in written.without_uri[:10])
            more = len(written.without_uri) - 10
            console.print(
                f"not in Spotify (no Spotify URI known): {names}"
                + (f" and {more} more" if more > 0 else "")
            )
    elif written is not None:
        path = out or Path(written.file_name)
        path.write_bytes(written.content)
        console.print(f"wrote {len(made.tracks)} tracks to {path}")


@app.command()
def watch(user: UserOpt, data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Print each new recommendation set as it arrives (Ctrl-C to stop)."""

    gateway = _gateway(data_dir, user)

    async def follow() -> None:
        async with FullCircleClient(*gateway) as client:
            async for event in client.subscribe():
                _print_set(event.set, f"new recommendations (event {event.event_id or 'current'})")

    try:
        _run(follow())
    except KeyboardInterrupt:
        pass
    except grpc.aio.AioRpcError as exc:
        raise _fail(exc.details() or str(exc.code())) from None


@app.command()
def demo(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    settle_s: Annotated[float, typer.Option(help="quiet seconds that end the wait")] = 15.0,
) -> None:
    """Start the stack, import the generated demo history, wait for recommendations, print 20."""
    from tools.demo.catalog import write_demo_catalog
    from tools.demo.history import generate_demo_history, write_export_zip

    private_dir(data_dir)
    catalog_path = data_dir / "demo_catalog.json"
    history_path = data_dir / "demo_history.zip"
    if not history_path.exists():
        with console.status("generating the demo listener's 140,000 plays"):
            catalog = (
                json.loads(catalog_path.read_text())
                if catalog_path.exists()
                else write_demo_catalog(catalog_path)
            )
            write_export_zip(generate_demo_history(catalog), history_path)
    up(detach=True, data_dir=data_dir)
    name = "demo"
    if name not in _load_credentials(data_dir):
        user_add(name, data_dir=data_dir)
    rec_set = _run(_demo_flow(_gateway(data_dir, name), history_path, settle_s))
    _print_set(rec_set, "20 recommendations for the demo listener")
    console.print(
        "\nThe stack keeps running: `fullcircle recs --user demo`, "
        "`fullcircle recs --user demo --rediscover`, `fullcircle watch --user demo`.\n"
        "Stop it with `make down` (or `.venv/bin/fullcircle down`)."
    )
    web_link(name, data_dir=data_dir)


@app.command("web-link")
def web_link(
    user: Annotated[str, typer.Option("--user", help="whose sign-in link")] = "demo",
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Print the web app's address and a one-time sign-in link for a user of this machine
    (it works once, for ten minutes; the API key itself never goes into a link)."""
    from redis.asyncio import Redis

    from services.web.adapters.sessions import SessionStore
    from services.web.settings import WebSettings

    state = _stack_state(data_dir)
    _, api_key = _gateway(data_dir, user)
    settings = WebSettings()

    async def create() -> str:
        redis = Redis.from_url(state.redis_url)
        try:
            store = SessionStore(redis, settings.session_ttl_s, settings.link_ttl_s)
            return await store.create_link(api_key)
        finally:
            await redis.aclose()

    token = _run(create())
    console.print(f"\n[green]The web app[/]: {state.web_url}")
    console.print(
        f"Sign in as {user} (this link works once, for {settings.link_ttl_s // 60} minutes; "
        f"`fullcircle web-link --user {user}` makes another):\n"
        f"  {state.web_url}/signin/link/{token}",
        soft_wrap=True,
    )


async def _demo_flow(
    gateway: tuple[str, str], history: Path, settle_s: float
) -> common_pb2.RecommendationSet:
    async with FullCircleClient(*gateway) as client:
        latest: common_pb2.RecommendationSet | None = None
        events = client.subscribe()
        final = await _import(gateway, history, history.name)
        if final is None or final.stage != "done":
            raise _fail(final.message if final else "the import did not finish")
        console.print(f"[green]imported[/]: {final.message}")
        if final.plays_new == 0:
            return await client.recommendations(20)
        with console.status("enriching with Last.fm tags, building the taste profile, ranking"):
            iterator = aiter(events)
            while True:
                timeout = None if latest is None or not latest.items else settle_s
                try:
                    event = await asyncio.wait_for(anext(iterator), timeout)
                except TimeoutError:
                    break
                if event.set.items:
                    latest = event.set
        return await client.recommendations(20)


@eval_app.command("relisten")
def eval_relisten(
    history: Annotated[
        Path,
        typer.Option("--history", help="a Spotify export (zip, folder, JSON) or a Last.fm CSV"),
    ],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    development: Annotated[
        bool,
        typer.Option(
            "--development", help="only the months before the first official cutoff (tuning)"
        ),
    ] = False,
) -> None:
    """Protocol A: which of my artists will I play next month? (the Full-Circle row is the
    recency weights the profile serves)"""
    from tools.lab.relisten import format_table, run_relisten

    result = run_relisten(history, development=development)
    print(result.to_json() if as_json else format_table(result))


@eval_app.command("discovery")
def eval_discovery(
    hetrec: Annotated[Path, typer.Option("--hetrec", help="the hetrec2011-lastfm-2k folder")],
    seed: Annotated[list[int] | None, typer.Option("--seed")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Protocol B: which new artists will I like?"""
    from tools.lab.discovery import main as discovery_main

    args = ["--hetrec", str(hetrec)]
    for value in seed or []:
        args += ["--seed", str(value)]
    if as_json:
        args.append("--json")
    sys.exit(discovery_main(args))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
