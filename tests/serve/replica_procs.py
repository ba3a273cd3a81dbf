"""Gateway replicas as real processes (``serve`` → uvicorn), and a PostgreSQL server on loopback.

A replica is its own process so that it can be killed with SIGKILL mid-save; the fake experts
stay in the test's process. The PostgreSQL server is Debian's (or any) ``initdb``/``pg_ctl``,
started in a temporary folder on a free port with a password (scram-sha-256), as the
``postgres`` user when the tests run as root.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.serve.servers import free_port

__all__ = ["PostgresServer", "Replica", "find_pg_bin", "postgres_server"]

ROOT = Path(__file__).resolve().parents[2]
PASSWORD_ENV = "IR3DE_TEST_PG_PASSWORD"
_RUN = (
    "import json, sys\n"
    "from ir3de_serve import parse_config, serve\n"
    "serve(parse_config(json.load(open(sys.argv[1]))), log_level='warning')\n"
)


class Replica:
    """One gateway process serving `config` (a config mapping) on a port of its own.

    Args:
        config: the config mapping (``server.port`` is set here).
        folder: where its config file and output go.
    """

    def __init__(self, config: dict[str, Any], folder: Path) -> None:
        self.port = free_port()
        self.config = {**config, "server": {**config.get("server", {}), "port": self.port}}
        self.folder = folder
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> Replica:
        """Start it and wait until it answers ``/healthz``."""
        return self.launch().ready(timeout)

    def launch(self) -> Replica:
        """Start the process (`ready` waits for it)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / "config.json"
        path.write_text(json.dumps(self.config))
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        log = (self.folder / "stderr.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-c", _RUN, str(path)], env=env, stdout=log, stderr=log
        )
        return self

    def ready(self, timeout: float = 60.0) -> Replica:
        """Wait until it answers ``/healthz``."""
        if self.process is None:
            msg = "launch the replica first"
            raise RuntimeError(msg)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                msg = f"the replica exited ({self.process.returncode}): {self.stderr()}"
                raise RuntimeError(msg)
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return self
            time.sleep(0.1)
        self.kill()
        msg = f"the replica did not start: {self.stderr()}"
        raise RuntimeError(msg)

    def health(self) -> dict[str, Any]:
        """Its full ``/healthz`` (the tests' replicas have no keys)."""
        result: dict[str, Any] = httpx.get(f"{self.url}/healthz", timeout=10.0).json()
        return result

    def kill(self) -> None:
        """SIGKILL: no shutdown, no last save."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(30)

    def stop(self) -> None:
        """SIGTERM: uvicorn shuts down, the gateway folds what is committed and saves."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(60)

    def stderr(self) -> str:
        path = self.folder / "stderr.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def find_pg_bin() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl`` (PATH, else Debian's), or None."""
    found = shutil.which("initdb")
    if found is not None and shutil.which("pg_ctl") is not None:
        return Path(found).resolve().parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    return None


@dataclass(frozen=True)
class PostgresServer:
    """A running server: its host, port, superuser and password."""

    port: int
    user: str
    password: str

    def url(self, database: str = "postgres") -> str:
        """A URL without the password (it is in `PASSWORD_ENV`)."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; its URL."""
        import psycopg

        name = f"ir3de_{secrets.token_hex(4)}"
        with psycopg.connect(self.url(), password=self.password, autocommit=True) as db:
            db.execute(f"CREATE DATABASE {name}")
        return self.url(name)


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer | str]:
    """A PostgreSQL server for the block, or the reason there cannot be one (a string)."""
    bindir = find_pg_bin()
    if bindir is None:
        yield "no PostgreSQL server binary (initdb, pg_ctl) on PATH or in /usr/lib/postgresql: apt-get install postgresql, or pip install pgserver and put its pginstall/bin on PATH"
        return
    as_user: list[str] = []
    owner: pwd.struct_passwd | None = None
    if os.geteuid() == 0:  # initdb refuses root: run the server as the postgres user
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            yield "running as root and there is no 'postgres' user to run the server"
            return
        as_user = ["runuser", "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="ir3de-pg-"))
    root.chmod(0o755)
    password, port = secrets.token_hex(12), free_port()
    (root / "pw").write_text(password)
    if owner is not None:
        os.chown(root, owner.pw_uid, owner.pw_gid)
        os.chown(root / "pw", owner.pw_uid, owner.pw_gid)
    data, log = root / "data", root / "server.log"
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=on"
    try:
        subprocess.run(
            [*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "ir3de", "-A",
             "scram-sha-256", f"--pwfile={root / 'pw'}", "-E", "UTF8"],
            check=True, capture_output=True,
        )  # fmt: skip
        subprocess.run(
            [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log),
             "-w", "-t", "60", "start"],
            check=True, capture_output=True,
        )  # fmt: skip
    except subprocess.CalledProcessError as e:
        shutil.rmtree(root, ignore_errors=True)
        yield f"the PostgreSQL server did not start: {e.stderr.decode(errors='replace')[-500:]}"
        return
    try:
        yield PostgresServer(port, "ir3de", password)
    finally:
        subprocess.run(
            [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)
