"""A saved router is untrusted data: loading it never phones home, reads a secret the file names,
writes where the file says, or reads more than the file holds; tampering is refused."""

from __future__ import annotations

import json
import shutil
import threading
import tracemalloc
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ir3de_core import IR3DERouter, ModelFileError
from ir3de_core.persistence.arrayfile import sha256
from ir3de_core.persistence.router_file import ARRAYS, MANIFEST

D = 128


@pytest.fixture(scope="module")
def saved(tmp_path_factory, prompts, domains) -> Path:
    router = IR3DERouter({"kind": "hashing", "n_features": D, "tfidf": False})
    return router.fit(prompts, domains).save(tmp_path_factory.mktemp("router") / "r")


def _copy(src: Path, tmp: Path) -> Path:
    return Path(shutil.copytree(src, tmp / "copy"))


def _edit(directory: Path, **changes: object) -> None:
    manifest = json.loads((directory / MANIFEST).read_text())
    manifest.update(changes)
    manifest["sha256"] = sha256(directory / ARRAYS)
    (directory / MANIFEST).write_text(json.dumps(manifest))


class Recorder(BaseHTTPRequestHandler):
    """An OpenAI-compatible embeddings endpoint that records every request it gets."""

    seen: ClassVar[list[dict[str, str]]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length) or b"{}")
        Recorder.seen.append({"path": self.path, "auth": self.headers.get("Authorization", "")})
        data = [{"object": "embedding", "index": i, "embedding": [0.5] * D}
                for i, _ in enumerate(body.get("input", []))]  # fmt: skip
        payload = json.dumps({"object": "list", "data": data, "model": "m",
                              "usage": {"prompt_tokens": 1, "total_tokens": 1}}).encode()  # fmt: skip
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def endpoint() -> object:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Recorder.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_a_tampered_featurizer_cannot_send_prompts_or_secrets_anywhere(
    saved, tmp_path, endpoint, monkeypatch
) -> None:
    monkeypatch.setenv("ANY_VAR", "s3cret-token")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    evil = tmp_path / "evil-cache"
    directory = _copy(saved, tmp_path)
    _edit(directory, featurizer={"kind": "openai", "model": "m", "base_url": endpoint,
                                 "api_key_env": "ANY_VAR", "cache_dir": str(evil),
                                 "dimensions": D, "batch_size": 8, "max_retries": 0,
                                 "timeout": 5.0})  # fmt: skip
    router = IR3DERouter.load(directory)
    config = router.featurizer_.get_config()
    assert config["base_url"] is None and config["api_key_env"] == "OPENAI_API_KEY"
    assert config["cache_dir"] != str(evil)
    assert Recorder.seen == [] and not evil.exists()
    # the caller decides where prompts go and which variable holds the key
    mine = IR3DERouter.load(directory, featurizer_options={"base_url": endpoint, "cache_dir": None})
    mine.route(["my confidential prompt"])
    assert len(Recorder.seen) == 1 and "s3cret-token" not in Recorder.seen[0]["auth"]
    assert not evil.exists()


def test_a_file_cannot_name_a_model_directory_to_read(saved, tmp_path) -> None:
    directory = _copy(saved, tmp_path)
    _edit(directory, featurizer={"kind": "tokens", "model": "/etc", "max_tokens": 64,
                                 "truncation": "head"})  # fmt: skip
    with pytest.raises(ModelFileError, match="local model '/etc'"):
        IR3DERouter.load(directory)


def test_featurizer_options_cannot_change_the_features(saved) -> None:
    with pytest.raises(ModelFileError, match="featurizer_options may set only"):
        IR3DERouter.load(saved, featurizer_options={"n_features": 7})


def _zip_bomb(directory: Path, *, name: str, megabytes: int) -> None:
    """Add a deflate-compressed member of `megabytes` zeros (a few hundred KB on disk)."""
    block = b"\0" * (1 << 20)
    header = {"descr": "<f8", "fortran_order": False, "shape": (megabytes << 17,)}
    with (
        zipfile.ZipFile(directory / ARRAYS, "a", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open(f"{name}.npy", "w", force_zip64=True) as member,
    ):
        np.lib.format.write_array_header_1_0(member, header)
        for _ in range(megabytes):
            member.write(block)


def test_a_small_file_that_expands_is_refused_before_it_is_read(saved, tmp_path) -> None:
    directory = _copy(saved, tmp_path)
    _zip_bomb(directory, name="coef_extra", megabytes=300)
    assert (directory / ARRAYS).stat().st_size < 5 << 20
    manifest = json.loads((directory / MANIFEST).read_text())
    _edit(directory, arrays={**manifest["arrays"], "coef_extra": {"shape": [300 << 17],
                                                                 "dtype": "<f8"}})  # fmt: skip
    tracemalloc.start()
    with pytest.raises(ModelFileError, match="compressed"):
        IR3DERouter.load(directory)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 50 << 20


def test_impossible_shapes_and_dtypes_are_refused(saved, tmp_path) -> None:
    directory = _copy(saved, tmp_path)
    manifest = json.loads((directory / MANIFEST).read_text())
    huge = {**manifest["arrays"], "stats_xtx": {"shape": [10**7, 10**7, 1], "dtype": "<f8"}}
    _edit(directory, arrays=huge)
    with pytest.raises(ModelFileError, match="stats_xtx"):
        IR3DERouter.load(directory)
    for dtype in ("|i1", "<c16", "|O"):
        _edit(directory, arrays={**manifest["arrays"], "coef": {**manifest["arrays"]["coef"],
                                                                "dtype": dtype}})  # fmt: skip
        with pytest.raises(ModelFileError, match="coef"):
            IR3DERouter.load(directory)


def test_weights_that_do_not_solve_the_statistics_are_refused(saved, tmp_path) -> None:
    directory = _copy(saved, tmp_path)
    with np.load(directory / ARRAYS) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["coef"] = np.random.default_rng(0).normal(size=arrays["coef"].shape)
    np.savez(directory / ARRAYS, **arrays)
    _edit(directory)
    with pytest.raises(ModelFileError, match="not the ridge solution"):
        IR3DERouter.load(directory)


def test_deeply_nested_or_huge_manifests_are_refused(saved, tmp_path) -> None:
    directory = _copy(saved, tmp_path)
    (directory / MANIFEST).write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ModelFileError, match="not valid JSON"):
        IR3DERouter.load(directory)
    (directory / MANIFEST).write_text(" " * (17 << 20))
    with pytest.raises(ModelFileError, match="larger than"):
        IR3DERouter.load(directory)


def test_signed_routers_prove_their_origin(prompts, domains, tmp_path) -> None:
    router = IR3DERouter({"kind": "hashing", "n_features": 32}).fit(prompts, domains)
    directory = router.save(tmp_path / "signed", signing_key=b"k1")
    assert IR3DERouter.load(directory, signing_key=b"k1").experts_ == router.experts_
    with pytest.raises(ModelFileError, match="not signed with this signing key"):
        IR3DERouter.load(directory, signing_key=b"other")
    manifest = json.loads((directory / MANIFEST).read_text())
    manifest["expert_map"] = {g: "attacker" for g in manifest["expert_map"]}
    (directory / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match="not signed"):
        IR3DERouter.load(directory, signing_key=b"k1")
    unsigned = router.save(tmp_path / "unsigned")
    with pytest.raises(ModelFileError, match="not signed"):
        IR3DERouter.load(unsigned, signing_key=b"k1")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(value: object, prefix: tuple = ()) -> list[tuple]:
    """Every key path of a JSON value."""
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += _paths(item, (*prefix, i))
    return out


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_fuzzed_manifests_load_or_fail_with_model_file_error(saved, tmp_path_factory, data) -> None:
    """Any change to any field of router.json: a working router or a ModelFileError, nothing else."""
    directory = _copy(saved, tmp_path_factory.mktemp("fuzz"))
    manifest = json.loads((directory / MANIFEST).read_text())
    path = data.draw(st.sampled_from([p for p in _paths(manifest) if p]))
    target = manifest
    for key in path[:-1]:
        target = target[key]
    if data.draw(st.booleans()) and isinstance(target, dict):
        del target[path[-1]]
    else:
        target[path[-1]] = data.draw(json_values)
    (directory / MANIFEST).write_text(json.dumps(manifest))
    try:
        router = IR3DERouter.load(directory)
    except ModelFileError:
        return
    decision = router.route(["Solve 2x = 4"])[0]
    assert decision.expert in router.experts_
