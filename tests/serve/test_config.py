"""The gateway config: defaults, validation with clear messages, the documented example."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from ir3de_cli.main import main
from ir3de_core.decide.policy import RoutingPolicy
from ir3de_serve import ConfigError, load_config, parse_config

REPO = Path(__file__).resolve().parents[2]
MINIMAL = """
[router]
path = "models/prod"

[[experts]]
name = "small"
base_url = "http://127.0.0.1:8001/v1"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_local_and_quiet(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    assert config.server.host == "127.0.0.1"
    assert config.server.log_prompts is False
    assert config.server.api_key_env is None
    assert config.router.path == tmp_path / "models" / "prod"  # relative to the config file
    assert config.feedback.save_to == config.router.path
    assert config.experts["small"].model == "small"
    assert config.policy is None and config.prices is None
    assert config.sticky.switch_confidence == 0.8


def test_the_documented_config_loads(tmp_path: Path) -> None:
    text = (REPO / "docs" / "serving.md").read_text(encoding="utf-8")
    block = re.search(r"```toml\n(.*?)```", text, re.S)
    assert block is not None, "docs/serving.md shows a gateway.toml"
    config = load_config(write(tmp_path, block.group(1)))
    assert set(config.experts) == {"small", "large"}
    assert config.prices == {"small": 0.0002, "large": 0.003}
    assert config.feedback.log == tmp_path / "logs" / "feedback.jsonl"
    policy = config.resolve_policy(RoutingPolicy(lam=5.0))
    assert policy.prices == config.prices and policy.price_unit == "1k_tokens"


def test_config_policy_replaces_the_saved_one_and_prices_apply(tmp_path: Path) -> None:
    text = MINIMAL.replace('8001/v1"', '8001/v1"\nprice_per_1k_tokens = 0.5') + (
        "\n[policy]\nlam = 2.0\nthreshold = 0.4\n"
    )
    config = load_config(write(tmp_path, text))
    policy = config.resolve_policy(RoutingPolicy(lam=9.0))
    assert (policy.lam, policy.threshold, policy.prices) == (2.0, 0.4, {"small": 0.5})


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda t: t + "\n[server]\nhots = '0.0.0.0'\n",
            r"unknown key\(s\) \['hots'\] in \[server\]",
        ),
        (lambda t: t.replace("[router]", "[routr]"), r"unknown key\(s\) \['routr'\]"),
        (lambda t: t.replace('path = "models/prod"', ""), "router.path is required"),
        (lambda t: t.replace("http://127.0.0.1:8001/v1", "127.0.0.1:8001"), "must start with http"),
        (lambda t: t.replace('"small"', '"ir3de"'), "cannot be 'ir3de'"),
        (
            lambda t: t + t.split("[[experts]]")[1].join(["[[experts]]", ""]),
            "two experts are named",
        ),
        (
            lambda t: t + "\n[server]\nport = 70000\n",
            r"server.port must be an integer in \[0, 65535\]",
        ),
        (lambda t: t + "\n[sticky]\nswitch_confidence = 2\n", "sticky.switch_confidence"),
        (lambda t: t + "\n[policy]\nlamda = 1\n", r"\[policy\]: unknown policy field"),
        (
            lambda t: t + "\n[policy]\nexplore_floor = 1.5\n",
            r"\[policy\]: explore_floor must be a number in \[0, 1\].*e\.g\. 0\.1",
        ),
        (lambda t: t + "\n[server]\napi_key_env = 'sk-123 secret'\n", "must name an environment"),
        (lambda t: t + "\n[feedback]\nsave_every_events = 0\n", "save_every_events"),
        (lambda t: t.split("[[experts]]")[0], "no experts"),
        (lambda t: t + "[", "not valid TOML"),
    ],
)
def test_invalid_configs_name_the_key(tmp_path: Path, edit, message: str) -> None:
    path = write(tmp_path, edit(MINIMAL))
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_prices_for_every_expert_or_none() -> None:
    data = {
        "router": {"path": "r"},
        "experts": [
            {"name": "a", "base_url": "http://127.0.0.1:1/v1", "price_per_1k_tokens": 1.0},
            {"name": "b", "base_url": "http://127.0.0.1:2/v1"},
        ],
    }
    with pytest.raises(ConfigError, match="every expert or to none"):
        parse_config(data)


def test_missing_environment_variables_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IR3DE_TEST_KEY", raising=False)
    data = {
        "router": {"path": "r"},
        "server": {"api_key_env": "IR3DE_TEST_KEY"},
        "experts": [{"name": "a", "base_url": "http://127.0.0.1:1/v1"}],
    }
    config = parse_config(data)
    with pytest.raises(ConfigError, match=r"server\.api_key_env = 'IR3DE_TEST_KEY'"):
        config.check_environment()
    monkeypatch.setenv("IR3DE_TEST_KEY", "k")
    config.check_environment()


def test_cli_reports_a_bad_config_in_one_line(tmp_path: Path, capsys) -> None:
    path = write(tmp_path, MINIMAL + "\n[server]\nprot = 1\n")
    assert main(["serve", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ir3de serve: error: ") and "prot" in err and "\n" not in err


def test_cli_reports_a_missing_router_in_one_line(tmp_path: Path, capsys) -> None:
    assert main(["serve", "--config", str(write(tmp_path, MINIMAL))]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ir3de serve: error: ") and "models/prod" in err


def test_the_core_never_imports_the_serve_dependencies() -> None:
    code = (
        "import sys, ir3de_core, ir3de_cli.main; "
        "print(sorted(m for m in ('fastapi', 'uvicorn', 'prometheus_client') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_without_the_extra_the_cli_names_it(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [m for m in sys.modules if m.startswith("ir3de_serve")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "fastapi", None)
    assert main(["serve", "--config", str(write(tmp_path, MINIMAL))]) == 2
    assert "pip install 'ir3de[serve]'" in capsys.readouterr().err


def test_several_workers_need_a_shared_log(tmp_path) -> None:
    from ir3de_serve.workers import check_workers, worker_config

    experts = [{"name": "a", "base_url": "http://127.0.0.1:1/v1", "model": "m"}]
    data = {"server": {"workers": 2}, "router": {"path": "router"}, "experts": experts}
    config = parse_config(data, base=tmp_path)
    assert config.server.workers == 2
    with pytest.raises(ConfigError, match=r"\[server\] workers\) needs \[feedback\] shared_log"):
        check_workers(config)
    check_workers(parse_config({**data, "feedback": {"enabled": False}}, base=tmp_path))
    shared = {"shared_log": "sqlite", "save_to": "state", "log": "fb.jsonl"}
    config = parse_config({**data, "feedback": shared}, base=tmp_path)
    check_workers(config)
    one = worker_config(config, 1)
    assert one.feedback.save_to == tmp_path / "state.worker-1"
    assert one.feedback.log == tmp_path / "fb.worker-1.jsonl"
    with pytest.raises(ConfigError, match=r"server\.workers"):
        parse_config({**data, "server": {"workers": 0}}, base=tmp_path)
