"""save/load: bit-for-bit round trips, and refusal of anything corrupted or tampered with."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ir3de_core import IR3DERouter, ModelFileError
from ir3de_core.persistence.arrayfile import array_specs
from ir3de_core.persistence.arrayfile import sha256 as _sha256
from ir3de_core.persistence.router_file import ARRAYS, MANIFEST
from ir3de_core.ridge.statistics import SufficientStatistics


@pytest.fixture(scope="module")
def saved(tmp_path_factory, prompts, domains) -> tuple[IR3DERouter, Path]:
    router = IR3DERouter("tokens", expert_map={d: f"{d}-llm" for d in set(domains)}).fit(
        prompts, domains
    )
    return router, router.save(tmp_path_factory.mktemp("router"))


def _arrays(directory: Path) -> dict[str, np.ndarray]:
    with np.load(directory / ARRAYS, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def test_round_trip_is_bit_for_bit(saved, tmp_path, prompts) -> None:
    router, directory = saved
    loaded = IR3DERouter.load(directory)
    assert loaded.get_params()["expert_map"] == router.get_params()["expert_map"]
    assert loaded.expert_map_ == router.expert_map_ and loaded.experts_ == router.experts_
    assert loaded.coef_.tobytes() == router.coef_.tobytes()
    assert loaded.statistics_.equals(router.statistics_)
    assert [d.to_dict() for d in loaded.route(prompts[:10])] == [
        d.to_dict() for d in router.route(prompts[:10])
    ]
    again = loaded.save(tmp_path / "again")
    first, second = _arrays(directory), _arrays(again)
    assert first.keys() == second.keys()
    assert all(
        first[k].tobytes() == second[k].tobytes() and first[k].dtype == second[k].dtype
        for k in first
    )


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 10_000),
    target=st.sampled_from(["domain", "quality"]),
    alpha=st.floats(0.01, 100),
)
def test_round_trip_property(tmp_path, prompts, seed, target, alpha) -> None:
    rng = np.random.default_rng(seed)
    picked = [prompts[i] for i in rng.choice(len(prompts), 30, replace=False)]
    y = (
        [str(rng.integers(0, 3)) for _ in picked]
        if target == "domain"
        else rng.uniform(size=(30, 2))
    )
    router = IR3DERouter({"kind": "hashing", "n_features": 32}, target=target, alpha=alpha)
    router.fit(picked, y, **({"experts": ["p", "q"]} if target == "quality" else {}))
    directory = router.save(tmp_path / f"r{seed}{target}")
    loaded = IR3DERouter.load(directory)
    assert loaded.coef_.tobytes() == router.coef_.tobytes()
    assert loaded.intercept_.tobytes() == router.intercept_.tobytes()
    np.testing.assert_array_equal(
        loaded.decision_function(picked), router.decision_function(picked)
    )


def _copy(saved_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    target.mkdir()
    for name in (ARRAYS, MANIFEST):
        (target / name).write_bytes((saved_dir / name).read_bytes())
    return target


def test_a_flipped_byte_is_refused(saved, tmp_path) -> None:
    directory = _copy(saved[1], tmp_path)
    data = bytearray((directory / ARRAYS).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (directory / ARRAYS).write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="checksum"):
        IR3DERouter.load(directory)


def test_a_truncated_file_is_refused(saved, tmp_path) -> None:
    directory = _copy(saved[1], tmp_path)
    data = (directory / ARRAYS).read_bytes()
    (directory / ARRAYS).write_bytes(data[: len(data) // 3])
    with pytest.raises(ModelFileError, match="checksum"):
        IR3DERouter.load(directory)
    (directory / MANIFEST).write_text((saved[1] / MANIFEST).read_text()[:200])
    with pytest.raises(ModelFileError, match="not valid JSON"):
        IR3DERouter.load(directory)


def _rewrite(directory: Path, arrays: dict[str, np.ndarray], **manifest_changes: object) -> None:
    np.savez(directory / ARRAYS, **arrays)
    manifest = json.loads((directory / MANIFEST).read_text())
    manifest["arrays"] = {
        k: {"shape": list(v.shape), "dtype": v.dtype.str} for k, v in arrays.items()
    }
    manifest.update(manifest_changes)
    manifest["sha256"] = _sha256(directory / ARRAYS)
    (directory / MANIFEST).write_text(json.dumps(manifest))


def test_consistent_but_wrong_shapes_are_refused(saved, tmp_path) -> None:
    """Even with a matching checksum, arrays must fit the groups and each other."""
    directory = _copy(saved[1], tmp_path)
    arrays = _arrays(directory)
    arrays["coef"] = arrays["coef"][:, :2]
    _rewrite(directory, arrays)
    with pytest.raises(ModelFileError, match="inconsistent router"):
        IR3DERouter.load(directory)


def test_object_arrays_are_never_unpickled(saved, tmp_path) -> None:
    directory = _copy(saved[1], tmp_path)
    arrays: dict[str, np.ndarray] = dict(_arrays(directory))
    arrays["evil"] = np.array([{"a": 1}], dtype=object)
    np.savez(directory / ARRAYS, **arrays)  # pickles the object array
    manifest = json.loads((directory / MANIFEST).read_text())
    manifest["sha256"] = _sha256(directory / ARRAYS)
    (directory / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match="cannot be read as the plain arrays"):
        IR3DERouter.load(directory)


@pytest.mark.parametrize(
    ("change", "match"),
    [({"format_version": 99}, "format version 99"), ({"format": "other"}, "not an ir3de router"),
     ({"featurizer": {"kind": "os.system"}}, "inconsistent router"),
     ({"params": {"alpha": -5}}, "inconsistent router"),
     ({"expert_map": {"x": "y"}}, "does not cover")],
)  # fmt: skip
def test_manifest_tampering_is_refused(saved, tmp_path, change, match) -> None:
    directory = _copy(saved[1], tmp_path)
    manifest = json.loads((directory / MANIFEST).read_text())
    if "params" in change:
        manifest["params"].update(change.pop("params"))
    manifest.update(change)
    (directory / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match=match):
        IR3DERouter.load(directory)


def test_missing_files_are_named(tmp_path, saved) -> None:
    with pytest.raises(ModelFileError, match=r"router\.json not found"):
        IR3DERouter.load(tmp_path)
    directory = _copy(saved[1], tmp_path)
    (directory / ARRAYS).unlink()
    with pytest.raises(ModelFileError, match=r"arrays\.npz not found"):
        IR3DERouter.load(directory)


def test_archive_holds_only_npy_members(saved) -> None:
    with zipfile.ZipFile(saved[1] / ARRAYS) as archive:
        assert all(name.endswith(".npy") for name in archive.namelist())


def _as_version_1(directory: Path) -> None:
    """Rewrite a saved router as ir3de 0.1 wrote it: uncentred sums, no policy, no prior."""
    arrays = _arrays(directory)
    stats = SufficientStatistics.from_arrays(arrays, _groups(directory), _design(directory))
    old = {k: v for k, v in arrays.items() if not k.startswith("stats_")}
    for field in ("xtx", "xty", "sum_x", "sum_y", "weight", "n_rows", "n_prompts"):
        old[f"stats_{field}"] = getattr(stats, field)
    np.savez(directory / ARRAYS, **old)
    manifest = json.loads((directory / MANIFEST).read_text())
    for key in ("policy", "policy_param", "prior"):
        manifest.pop(key)
    manifest.update(format_version=1, arrays=array_specs(old), sha256=_sha256(directory / ARRAYS))
    (directory / MANIFEST).write_text(json.dumps(manifest))


def _groups(directory: Path) -> list[str]:
    return list(json.loads((directory / MANIFEST).read_text())["groups"])


def _design(directory: Path) -> str:
    return str(json.loads((directory / MANIFEST).read_text())["design"])


def test_version_1_files_still_load(saved, tmp_path, prompts) -> None:
    """Routers saved by ir3de 0.1 (uncentred sums, no policy, no prior) load and route alike."""
    router, _ = saved
    directory = _copy(saved[1], tmp_path)
    _as_version_1(directory)
    loaded = IR3DERouter.load(directory)
    assert loaded.policy_.to_dict() == router.policy_.to_dict()
    assert loaded.prior_ in loaded.experts_
    assert loaded.statistics_.equals(router.statistics_, atol=1e-6)
    assert [d.expert for d in loaded.route(prompts[:10])] == [
        d.expert for d in router.route(prompts[:10])
    ]


def test_a_tampered_policy_is_refused(saved, tmp_path) -> None:
    directory = _copy(saved[1], tmp_path)
    manifest = json.loads((directory / MANIFEST).read_text())
    manifest["policy"] = {"lam": -1}
    (directory / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match="lam"):
        IR3DERouter.load(directory)
