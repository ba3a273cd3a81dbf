"""Named router versions: kept, switched atomically, rolled back; bad ones refused first."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ir3de_cli.main import main
from ir3de_core import IR3DERouter, ModelFileError
from ir3de_serve.versions import VersionError, VersionStore
from tests.serve.conftest import MATH, fit_router


def expert(path: Path) -> str:
    return IR3DERouter.load(path).route([MATH[0]])[0].expert


@pytest.fixture
def store(tmp_path: Path) -> VersionStore:
    fit_router().save(tmp_path / "prod")
    return VersionStore(tmp_path / "prod")


def test_versions_are_kept_switched_and_rolled_back(store: VersionStore, tmp_path: Path) -> None:
    flipped = store.keep(fit_router(good_at_math="beta", good_at_code="alpha"), "flipped")
    assert store.folder == tmp_path / "prod.versions" and store.current() is None
    assert expert(tmp_path / "prod") == "alpha"  # keeping does not switch
    _, before = store.switch("flipped", outgoing=IR3DERouter.load(tmp_path / "prod"))
    assert expert(tmp_path / "prod") == "beta" and store.current() == "flipped"
    assert before is not None and before != "flipped"
    assert sorted(v.name for v in store.kept()) == sorted(["flipped", before])
    assert [v.current for v in store.kept() if v.name == flipped] == [True]
    name, router = store.rollback()
    assert name == before and expert(tmp_path / "prod") == "alpha"
    assert router.route([MATH[0]])[0].expert == "alpha"
    assert store.current() == before
    with pytest.raises(VersionError, match="nothing to roll back to"):
        store.rollback()
    actions = [h["action"] for h in store.history()]
    assert actions == ["keep", "keep", "promote", "rollback"]
    assert sorted(p.name for p in store.folder.iterdir() if p.name.startswith(".")) == []


def test_generated_names_carry_the_time_and_the_router_hash(store: VersionStore) -> None:
    name = store.keep(fit_router())
    assert len(name) == len("20261207T070102Z-1a2b3c4d") and name[8] == "T" and name[16] == "-"
    with pytest.raises(VersionError, match="exists already"):
        store.keep(fit_router(), name)


@pytest.mark.parametrize("name", ["../prod", ".hidden", "", "a/b", "x" * 101])
def test_a_name_that_could_leave_the_folder_is_refused(store: VersionStore, name: str) -> None:
    with pytest.raises(VersionError, match="version name"):
        store.switch(name)


def test_a_corrupt_version_is_refused_before_anything_switches(
    store: VersionStore, tmp_path: Path
) -> None:
    store.keep(fit_router(good_at_math="beta", good_at_code="alpha"), "flipped")
    arrays = store.folder / "flipped" / "arrays.npz"
    arrays.write_bytes(arrays.read_bytes()[:-100])
    before = (tmp_path / "prod" / "arrays.npz").read_bytes()
    with pytest.raises(ModelFileError):
        store.switch("flipped", outgoing=fit_router())
    assert (tmp_path / "prod" / "arrays.npz").read_bytes() == before
    assert store.current() is None and [v.name for v in store.kept()] == ["flipped"]


def test_a_version_that_loads_but_cannot_route_is_refused(tmp_path: Path) -> None:
    fit_router().save(tmp_path / "prod")
    broken = fit_router(good_at_math="beta", good_at_code="alpha")
    state = broken.state_
    broken.state_ = state.replace(
        solution=state.solution.__class__(state.solution.coef, np.full(2, np.nan))
    )
    store = VersionStore(tmp_path / "prod", load=lambda _: broken)  # the file loads, as is
    store.keep(fit_router(), "nan")
    with pytest.raises(ValueError, match="cannot route"):
        store.switch("nan")
    assert expert(tmp_path / "prod") == "alpha" and store.current() is None


def test_a_bad_pointer_names_the_fix(store: VersionStore) -> None:
    store.folder.mkdir()
    (store.folder / "CURRENT").write_text("[1, 2]")
    with pytest.raises(VersionError, match="delete it"):
        store.current()


def test_the_cli_keeps_promotes_lists_and_rolls_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prod = fit_router().save(tmp_path / "prod")
    fit_router(good_at_math="beta", good_at_code="alpha").save(tmp_path / "candidate")
    base = ["versions"]
    assert main([*base, "keep", "--router", str(prod), "--from", str(tmp_path / "candidate"),
                 "--name", "v2"]) == 0  # fmt: skip
    assert main([*base, "promote", "v2", "--router", str(prod)]) == 0
    assert expert(prod) == "beta"
    capsys.readouterr()
    assert main([*base, "list", "--router", str(prod)]) == 0
    listing = capsys.readouterr().out
    assert "| * | v2" in listing and listing.count("\n") == 4  # header, rule, two versions
    assert main([*base, "promote", "nope", "--router", str(prod)]) == 2
    assert "no router version 'nope'" in capsys.readouterr().err
    assert len(VersionStore(prod).kept()) == 2  # a refused promotion keeps nothing
    assert main([*base, "rollback", "--router", str(prod)]) == 0
    assert expert(prod) == "alpha"
    history = (tmp_path / "prod.versions" / "history.jsonl").read_text().splitlines()
    assert [json.loads(x)["action"] for x in history][-2:] == ["promote", "rollback"]
