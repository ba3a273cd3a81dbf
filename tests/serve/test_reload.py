"""A new router file is picked up without a restart; saves are atomic; bad files are refused."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from ir3de_core import IR3DERouter, ModelFileError
from ir3de_serve import save_atomically
from ir3de_serve.storage import folder_signature
from tests.serve.conftest import config_data, fit_router, gateway_app

PROMPT = "solve the integral of x squared"
BODY = {"model": "ir3de", "messages": [{"role": "user", "content": PROMPT}]}


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def expert(url: str) -> str:
    return httpx.post(f"{url}/v1/chat/completions", json=BODY).headers["x-ir3de-expert"]


def reloads(url: str, outcome: str) -> float:
    name = f'ir3de_router_reloads_total{{outcome="{outcome}"}}'
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith(name):
            return float(line.split()[-1])
    return 0.0


@pytest.mark.parametrize("how", ["atomic", "in_place"])
def test_a_new_router_file_is_swapped_in(router_dir: Path, upstreams, how: str) -> None:
    _, urls = upstreams
    data = config_data(router_dir, urls, router={"reload_seconds": 0.1})
    with gateway_app(data) as (gw, url):
        assert expert(url) == "alpha"
        flipped = fit_router(good_at_math="beta", good_at_code="alpha")
        if how == "atomic":
            save_atomically(flipped, router_dir)
        else:
            flipped.save(router_dir)
        wait_for(lambda: httpx.get(f"{url}/healthz").json()["router"]["version"] == 2)
        assert expert(url) == "beta"
        assert reloads(url, "reloaded") == 1.0
        np.testing.assert_array_equal(gw.slot.router.coef_, flipped.coef_)


def test_a_broken_router_is_refused_and_the_running_one_kept(router_dir: Path, upstreams) -> None:
    _, urls = upstreams
    data = config_data(router_dir, urls, router={"reload_seconds": 0.1})
    with gateway_app(data) as (_, url):
        arrays = router_dir / "arrays.npz"
        arrays.write_bytes(arrays.read_bytes()[:-100])  # truncated
        wait_for(lambda: reloads(url, "refused") == 1.0)
        assert expert(url) == "alpha"
        assert httpx.get(f"{url}/healthz").json()["router"]["version"] == 1
        time.sleep(0.3)
        assert reloads(url, "refused") == 1.0  # refused once, not every check
        fit_router(good_at_math="beta", good_at_code="alpha").save(router_dir)
        wait_for(lambda: reloads(url, "reloaded") == 1.0)
        assert expert(url) == "beta"


def test_a_router_with_other_experts_is_refused(router_dir: Path, upstreams) -> None:
    _, urls = upstreams
    data = config_data(router_dir, urls, router={"reload_seconds": 0.1})
    with gateway_app(data) as (_, url):
        fit_router(good_at_math="alpha", good_at_code="gamma").save(router_dir)
        wait_for(lambda: reloads(url, "refused") == 1.0)
        assert expert(url) == "alpha"


def test_signed_routers_only(tmp_path: Path, upstreams, monkeypatch: pytest.MonkeyPatch) -> None:
    _, urls = upstreams
    monkeypatch.setenv("IR3DE_TEST_SIGNING_KEY", "k3y")
    path = fit_router().save(tmp_path / "router", signing_key=b"k3y")
    data = config_data(
        path,
        urls,
        router={"reload_seconds": 0.1, "signing_key_env": "IR3DE_TEST_SIGNING_KEY"},
        feedback={"save_every_events": 1},
    )
    with gateway_app(data) as (_, url):
        answer = httpx.post(f"{url}/v1/chat/completions", json=BODY).json()
        feedback = httpx.post(f"{url}/v1/feedback", json={"id": answer["id"], "score": 0.2})
        assert feedback.status_code == 200
        IR3DERouter.load(path, signing_key=b"k3y")  # its saves are signed
        fit_router(good_at_math="beta", good_at_code="alpha").save(path)  # unsigned
        wait_for(lambda: reloads(url, "refused") == 1.0)
        assert expert(url) == "alpha"


def test_the_gateway_never_saves_over_a_newer_router(router_dir: Path, upstreams) -> None:
    _, urls = upstreams
    data = config_data(router_dir, urls, router={"reload_seconds": 3600})
    data["feedback"]["save_every_events"] = 1
    with gateway_app(data) as (gw, url):
        answer = httpx.post(f"{url}/v1/chat/completions", json=BODY).json()
        newer = fit_router(good_at_math="beta", good_at_code="alpha")
        save_atomically(newer, router_dir)
        feedback = httpx.post(f"{url}/v1/feedback", json={"id": answer["id"], "score": 0.2})
        assert feedback.status_code == 200
        np.testing.assert_array_equal(IR3DERouter.load(router_dir).coef_, newer.coef_)
        assert gw.slot.reload_if_changed() == "reloaded"
        assert expert(url) == "beta"


def test_a_symlinked_router_is_replaced_by_one_rename(tmp_path: Path) -> None:
    first = fit_router().save(tmp_path / "v1")
    link = tmp_path / "prod"
    link.symlink_to(first.name)
    save_atomically(fit_router(good_at_math="beta", good_at_code="alpha"), link)
    target = link.resolve()
    assert link.is_symlink() and target.parent == tmp_path and target != first
    assert IR3DERouter.load(link).route([PROMPT])[0].expert == "beta"
    save_atomically(fit_router(), link)
    assert not target.exists()  # the gateway's previous save is cleaned up
    assert first.exists()  # a folder it did not write is left alone
    assert IR3DERouter.load(link).route([PROMPT])[0].expert == "alpha"


@pytest.mark.parametrize("linked", [False, True])
def test_readers_never_see_half_a_router(tmp_path: Path, linked: bool) -> None:
    routers = [fit_router(), fit_router(good_at_math="beta", good_at_code="alpha")]
    path = routers[0].save(tmp_path / "v0")
    if linked:
        (tmp_path / "prod").symlink_to("v0")
        path = tmp_path / "prod"
    errors: list[Exception] = []
    loads = 0
    done = threading.Event()

    def read() -> None:
        nonlocal loads
        while not done.is_set():
            try:
                IR3DERouter.load(path)
                loads += 1
            except ModelFileError as e:
                errors.append(e)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(30):
            save_atomically(routers[i % 2], path)
    finally:
        done.set()
        reader.join()
    assert loads > 0 and errors == []
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith((".tmp", ".old"))) == []


def test_a_folder_with_other_files_is_not_replaced(tmp_path: Path) -> None:
    path = fit_router().save(tmp_path / "router")
    (path / "README").write_text("mine")
    with pytest.raises(OSError, match="holds files that are not a router's"):
        save_atomically(fit_router(), path)
    assert (path / "README").read_text() == "mine"
    assert folder_signature(path) is not None
