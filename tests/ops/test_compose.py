"""docker-compose.yml and the Dockerfile, checked against the compose spec's rules and our own CLI
and settings (no Docker engine here: `docker compose config` cannot run, so this test does its job)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
# https://github.com/compose-spec/compose-spec/blob/main/05-services.md (the keys we may use)
SERVICE_KEYS = {
    "image", "build", "command", "entrypoint", "environment", "env_file", "ports", "expose", "volumes",
    "depends_on", "healthcheck", "restart", "deploy", "profiles", "ulimits", "networks", "labels", "logging",
    "user", "working_dir", "stop_grace_period", "stop_signal", "secrets", "configs", "container_name", "init",
    "cap_add", "mem_limit", "shm_size", "tmpfs", "extra_hosts",
}
TOP_KEYS = {"name", "services", "volumes", "networks", "configs", "secrets", "include"}
INTERPOLATION = re.compile(r"\$(\$|\{[A-Za-z_][A-Za-z0-9_]*(?:(?::?[-?+])[^}]*)?\}|[A-Za-z_][A-Za-z0-9_]*)")
OPMON_SERVICES = ("api", "scheduler", "crawler", "crawler-gpu")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def test_top_level_and_service_keys_follow_the_spec(compose):
    assert {k for k in compose if not k.startswith("x-")} <= TOP_KEYS
    for name, svc in compose["services"].items():
        unknown = set(svc) - SERVICE_KEYS
        assert not unknown, f"{name}: {unknown}"
        assert "image" in svc or "build" in svc, name
    declared = set(compose.get("volumes") or {})
    for name, svc in compose["services"].items():
        for v in svc.get("volumes", []):
            src = v.split(":")[0]
            if not src.startswith((".", "/")):
                assert src in declared, f"{name}: named volume {src} is not declared"


def test_every_dollar_is_a_valid_interpolation():
    # comments are not interpolated; every other `$` must be `$$` or a valid ${...} form
    text = "\n".join(line for line in COMPOSE.read_text(encoding="utf-8").splitlines()
                     if not line.lstrip().startswith("#"))
    i = 0
    while (i := text.find("$", i)) >= 0:
        m = INTERPOLATION.match(text, i)
        assert m, f"bad interpolation at {text[i:i + 40]!r}"
        i = m.end()


def test_required_variables_fail_loudly():
    text = COMPOSE.read_text(encoding="utf-8")
    assert re.search(r"\$\{ELASTIC_PASSWORD:\?[^}]+\}", text)
    assert re.search(r"\$\{OPMON_ADMIN_KEY:\?[^}]+\}", text)


def test_elasticsearch_is_healthchecked_and_waited_for(compose):
    es = compose["services"]["elasticsearch"]
    assert es["image"].startswith("docker.elastic.co/elasticsearch/elasticsearch:${ES_VERSION:-8.")
    assert es["environment"]["discovery.type"] == "single-node"
    hc = es["healthcheck"]
    assert hc["test"][0] == "CMD-SHELL" and "_cluster/health" in hc["test"][1]
    assert "$${ELASTIC_PASSWORD}" in hc["test"][1]  # the container's variable, not compose's
    assert hc["retries"] >= 10 and "start_period" in hc
    assert compose["services"]["redis"]["healthcheck"]["test"][:2] == ["CMD", "redis-cli"]
    for name in OPMON_SERVICES:
        deps = compose["services"][name]["depends_on"]
        assert deps["elasticsearch"]["condition"] == "service_healthy", name
        assert deps["redis"]["condition"] == "service_healthy", name


def test_workers_scale_and_profiles(compose):
    s = compose["services"]
    assert isinstance(s["crawler"]["deploy"]["replicas"], int) and s["crawler"]["deploy"]["replicas"] >= 2
    assert "ports" not in s["crawler"]  # scalable: no fixed host port
    assert "profiles" not in s["api"] and "profiles" not in s["scheduler"]
    gpu = s["crawler-gpu"]
    assert gpu["profiles"] == ["gpu"]
    dev = gpu["deploy"]["resources"]["reservations"]["devices"][0]
    assert dev["driver"] == "nvidia" and dev["capabilities"] == ["gpu"] and dev["count"] == 1
    assert gpu["environment"]["OPMON_DEVICE"] == "cuda"
    assert s["kibana"]["profiles"] == ["kibana"] and s["kibana-setup"]["profiles"] == ["kibana"]
    assert s["kibana"]["depends_on"]["kibana-setup"]["condition"] == "service_completed_successfully"


def test_commands_are_real_cli_invocations(compose):
    from core.cli import COMMANDS, main

    for name in OPMON_SERVICES:
        cmd = compose["services"][name]["command"]
        assert cmd[0] == "opmon" and cmd[1] in COMMANDS, name
        command = main.get_command(None, cmd[1])
        command.make_context(cmd[1], list(cmd[2:]))  # raises on an unknown option or bad value


def test_environment_is_valid_settings(compose):
    from core.settings import Settings

    fields = {f"OPMON_{n.upper()}" for n in Settings.model_fields} | {"OPMON_ES_URL"}
    for name in OPMON_SERVICES:
        env = compose["services"][name]["environment"]
        for key in env:
            if key.startswith("OPMON_"):
                assert key in fields, f"{name}: {key} is not a setting"
        resolved = {k[len("OPMON_"):].lower(): re.sub(r"\$\{[^}]+\}", "x", str(v)) for k, v in env.items()
                    if k.startswith("OPMON_") and k != "OPMON_ES_URL"}
        resolved["es_url"] = env["OPMON_ES_URL"]
        s = Settings.model_validate(resolved)
        assert s.store == "elasticsearch" and s.es_url == "http://elasticsearch:9200"
        # The password comes from the required variable, never written into the file.
        assert s.es_username == "elastic"
        assert re.fullmatch(r"\$\{ELASTIC_PASSWORD:\?[^}]+\}", str(env["OPMON_ES_PASSWORD"]))


def test_dockerfile_matches_the_project():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11", text, re.M)
    pinned = re.search(r'"torch==([\d.]+)"', (ROOT / "pyproject.toml").read_text()).group(1)
    assert f"ARG TORCH_VERSION={pinned}" in text
    assert "chromium" in text and "EXPOSE 8000" in text
    ignore = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", "data", ".git"} <= set(ignore)
