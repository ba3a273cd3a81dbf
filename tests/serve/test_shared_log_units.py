"""The shared log's parts: ordered durable appends under concurrency, the config key, the
refusals (another base router, another log's state, a router that cannot fold rows, a password
in the URL), the event format and the cursor file."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import numpy as np
import pytest

from ir3de_core import IR3DERouter
from ir3de_serve import ConfigError, create_app, parse_config
from ir3de_serve.sharedlog import (
    CURSOR_FILE,
    FeedbackEvent,
    SharedLog,
    SharedLogError,
    decode_event,
    encode_event,
    open_shared_log,
    read_cursor,
    write_cursor,
)
from ir3de_serve.sharedlog.sqlite import SqliteLog
from tests.serve.conftest import MATH, config_data, fit_router, gateway_app
from tests.serve.replica_procs import PASSWORD_ENV, PostgresServer

URLS = {"alpha": "http://127.0.0.1:9", "beta": "http://127.0.0.1:9"}


@pytest.fixture(params=["sqlite", "postgresql"])
def log_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'feedback.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    monkeypatch.setenv(PASSWORD_ENV, server.password)
    return server.create_database()


def opened(url: str) -> SharedLog:
    return open_shared_log(url, password_env=PASSWORD_ENV if url.startswith("postgres") else None)


def test_concurrent_appends_are_read_once_each_in_commit_order(log_url: str) -> None:
    """Eight writers (one connection each) and a reader tailing by cursor while they write: the
    reader sees every event once, numbers strictly increasing — none committed behind its cursor."""
    writers = [opened(log_url) for _ in range(8)]
    reader, seen, done = opened(log_url), [], threading.Event()
    given: list[int] = []
    lock = threading.Lock()

    def write(log: SharedLog, w: int) -> None:
        for i in range(40):
            sequence = log.append(f"{w}:{i}", f"{w}:{i}".encode())
            with lock:
                given.append(sequence)

    def tail() -> None:
        cursor = 0
        while not done.is_set() or reader.head() > cursor:
            for event in reader.read(cursor, 7):
                assert event.sequence > cursor
                cursor = event.sequence
                seen.append(event)

    tailer = threading.Thread(target=tail)
    tailer.start()
    threads = [threading.Thread(target=write, args=(log, w)) for w, log in enumerate(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    tailer.join()
    assert sorted(given) == [e.sequence for e in seen] and len(set(given)) == 320
    payloads = {e.payload for e in seen}
    assert payloads == {f"{w}:{i}".encode() for w in range(8) for i in range(40)}
    for log in (*writers, reader):
        log.close()


def test_the_log_keeps_its_identity_and_refuses_another_base(log_url: str) -> None:
    first = opened(log_url)
    first.check_base("a" * 64)
    again = opened(log_url)
    assert again.identity() == first.identity() and len(first.identity()) == 32
    again.check_base("a" * 64)
    with pytest.raises(SharedLogError, match="started from another router"):
        again.check_base("b" * 64)
    first.close()
    again.close()


def test_a_replica_of_another_router_does_not_start(tmp_path: Path) -> None:
    log = f"sqlite:///{tmp_path / 'log.db'}"
    ours, theirs = fit_router().save(tmp_path / "ours"), fit_router().save(tmp_path / "theirs")
    theirs_router = IR3DERouter.load(theirs).partial_fit([MATH[0]], [{"alpha": 0.0}])
    theirs_router.save(theirs)
    create_app(parse_config(replica(ours, log, tmp_path / "a")))  # binds the log to `ours`
    with pytest.raises(SharedLogError, match="started from another router"):
        create_app(parse_config(replica(theirs, log, tmp_path / "b")))


def test_state_saved_from_another_log_is_refused(tmp_path: Path) -> None:
    router_dir = fit_router().save(tmp_path / "router")
    state = tmp_path / "state"
    IR3DERouter.load(router_dir).save(state)
    write_cursor(state, log_id="0" * 32, base="x", sequence=5, signing_key=None)
    with pytest.raises(SharedLogError, match="another shared log or base router"):
        create_app(parse_config(replica(router_dir, f"sqlite:///{tmp_path / 'l.db'}", state)))


def test_a_cursor_is_bound_to_its_router_and_signed(tmp_path: Path) -> None:
    folder = fit_router().save(tmp_path / "r")
    write_cursor(folder, log_id="L", base="B", sequence=12, signing_key=b"k")
    assert read_cursor(folder, log_id="L", base="B", signing_key=b"k") == 12
    with pytest.raises(SharedLogError, match="not signed with the router's signing key"):
        read_cursor(folder, log_id="L", base="B", signing_key=b"other")
    fit_router(good_at_math="beta", good_at_code="alpha").save(tmp_path / "other")
    (tmp_path / "other" / CURSOR_FILE).write_bytes((folder / CURSOR_FILE).read_bytes())
    with pytest.raises(SharedLogError, match="not the one its cursor was saved with"):
        read_cursor(tmp_path / "other", log_id="L", base="B", signing_key=b"k")
    assert read_cursor(tmp_path, log_id="L", base="B", signing_key=None) is None


def test_events_keep_their_row_bit_for_bit_and_refuse_bad_ones() -> None:
    row = np.array([0.1, -0.0, 1e-300, 3.0])
    event = FeedbackEvent("c1", "alpha", 0.25, 0.5, "key", "origin", row)
    back = decode_event(encode_event(event), 4)
    assert back.row.tobytes() == row.tobytes() and back.score == 0.25 and back.weight == 0.5
    with pytest.raises(ValueError, match="row has 4 features, the router 3"):
        decode_event(encode_event(event), 3)
    bad = FeedbackEvent("c1", "alpha", 0.25, 2.0, "key", "origin", row)
    with pytest.raises(ValueError, match="not a finite number in range"):
        decode_event(encode_event(bad), 4)
    with pytest.raises(ValueError, match="not a feedback event"):
        decode_event(b"{}", 4)


def replica(router_dir: Path, log: str, state: Path) -> dict:
    return config_data(router_dir, URLS, feedback={"shared_log": log, "save_to": str(state)})


def test_the_config_key(tmp_path: Path) -> None:
    router_dir = tmp_path / "models" / "prod"
    config = parse_config(replica(router_dir, "sqlite", tmp_path / "s"), base=tmp_path)
    assert config.feedback.shared_log == f"sqlite:///{tmp_path / 'models' / 'prod.feedback.db'}"
    relative = parse_config(
        replica(router_dir, "sqlite:///logs/f.db", tmp_path / "s"), base=tmp_path
    )
    assert relative.feedback.shared_log == f"sqlite:///{tmp_path / 'logs' / 'f.db'}"
    absolute = parse_config(replica(router_dir, "sqlite:////var/f.db", tmp_path / "s"))
    assert absolute.feedback.shared_log == "sqlite:////var/f.db"
    with pytest.raises(ConfigError, match="holds a password: remove it"):
        parse_config(replica(router_dir, "postgresql://u:secret@db/x", tmp_path / "s"))
    with pytest.raises(ConfigError, match="is not a shared log"):
        parse_config(replica(router_dir, "mysql://db/x", tmp_path / "s"))
    with pytest.raises(ConfigError, match=r"a folder of its own: set feedback\.save_to"):
        parse_config(config_data(router_dir, URLS, feedback={"shared_log": "sqlite"}))
    data = replica(router_dir, "postgresql://u@db/x", tmp_path / "s")
    data["feedback"]["shared_log_password_env"] = "IR3DE_NO_SUCH_VARIABLE"
    with pytest.raises(ConfigError, match=r"feedback\.shared_log_password_env"):
        parse_config(data).check_environment()


def test_a_router_that_cannot_fold_rows_is_refused(tmp_path: Path) -> None:
    domain = IR3DERouter({"kind": "hashing", "n_features": 64}, target="domain").fit(
        ["solve x", "write code"], ["alpha", "beta"]
    )
    router_dir = domain.save(tmp_path / "router")
    with pytest.raises(ConfigError, match="needs a quality-mode router on row features"):
        create_app(
            parse_config(replica(router_dir, f"sqlite:///{tmp_path / 'l.db'}", tmp_path / "s"))
        )


def test_an_event_the_log_cannot_take_is_refused_and_can_be_sent_again(
    router_dir: Path, upstreams, tmp_path: Path
) -> None:
    _, urls = upstreams
    data = config_data(router_dir, urls, feedback={
        "shared_log": f"sqlite:///{tmp_path / 'l.db'}", "save_to": str(tmp_path / "state"),
    })  # fmt: skip
    with gateway_app(data) as (gw, url):
        body = {"model": "ir3de", "messages": [{"role": "user", "content": MATH[0]}]}
        completion = httpx.post(f"{url}/v1/chat/completions", json=body).json()["id"]
        shared = gw.feedback.shared
        good = shared._appender
        shared._appender = SqliteLog(tmp_path / "broken.db")
        shared._appender.close()  # every append now fails
        refused = httpx.post(f"{url}/v1/feedback", json={"id": completion, "score": 0.5})
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "feedback_log_unavailable"
        shared._appender = good
        again = httpx.post(f"{url}/v1/feedback", json={"id": completion, "score": 0.5})
        assert again.status_code == 200 and again.json()["sequence"] == 1
        assert shared._appender.append(completion, b"resent") == 1  # once per completion
    assert sum(1 for _ in SqliteLog(tmp_path / "l.db").read(0)) == 1
