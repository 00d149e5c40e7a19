"""docker-compose.yml follows the Compose Specification and has the services the README names.

No Docker engine runs on these machines, so the file is checked against the specification's
JSON schema (as shipped in the docker-compose 1.29.2 package on PyPI, fetched once into the
cache directory)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.conftest import REPO

SCHEMA_MEMBER = "compose/config/compose_spec.json"
COMPOSE_WHEEL_SHA256 = "8d5589373b35c8d3b1c8c1182c6e4a4ff14bffa3dd0b605fcd08f73c94cef809"


@pytest.fixture(scope="module")
def compose_schema() -> dict[str, Any]:
    cache = (
        Path(os.environ.get("HOTLINE_CACHE_DIR") or Path.home() / ".cache/hotline") / "compose-spec"
    )
    wheels = list(cache.glob("docker_compose-*.whl"))
    if not wheels:
        cache.mkdir(parents=True, exist_ok=True)
        fetched = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--disable-pip-version-check",
                "docker-compose==1.29.2",
                "-d",
                str(cache),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert fetched.returncode == 0, (
            f"could not fetch the Compose schema from PyPI: {fetched.stderr}"
        )
        wheels = list(cache.glob("docker_compose-*.whl"))
    digest = hashlib.sha256(wheels[0].read_bytes()).hexdigest()
    assert digest == COMPOSE_WHEEL_SHA256, f"{wheels[0]} is not the wheel this test was written on"
    with zipfile.ZipFile(wheels[0]) as wheel:
        schema: dict[str, Any] = json.loads(wheel.read(SCHEMA_MEMBER))
    return schema


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return data


def test_the_compose_file_follows_the_specification(compose_schema: dict[str, Any]) -> None:
    jsonschema.Draft201909Validator(compose_schema).validate(_compose())


def test_a_broken_compose_file_would_be_caught(compose_schema: dict[str, Any]) -> None:
    broken = _compose()
    broken["services"]["app"]["restart_policy"] = "always"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft201909Validator(compose_schema).validate(broken)


def test_it_has_every_service_the_readme_names() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Deployment", 1)[1]
    named = set(re.findall(r"`([a-z][a-z-]+)`", section.split("Its services:", 1)[1]))
    assert named == set(_compose()["services"])


def test_only_sip_rtp_and_web_reach_the_network() -> None:
    compose = _compose()
    for name, service in compose["services"].items():
        assert "ports" not in service, f"{name} publishes ports; services use the host network"
    assert "--bind" in compose["services"]["redis"]["command"]
    assert "listen_addresses=127.0.0.1" in compose["services"]["postgres"]["command"]
    text = (REPO / "docker-compose.yml").read_text()
    for secret in (
        "POSTGRES_PASSWORD",
        "REDIS_PASSWORD",
        "HOTLINE_ARI_PASSWORD",
        "HOTLINE_AMI_SECRET",
    ):
        assert f"${{{secret}:?" in text, f"{secret} must be required, never defaulted"


def test_the_nodes_profile_runs_the_edge_and_each_node_on_its_own() -> None:
    """``docker compose --profile nodes up -d``: Kamailio, and for pbx-a and pbx-b their
    rendered configuration, Asterisk reading it, and the node's own services."""
    services = _compose()["services"]
    profiled = {name for name, service in services.items() if service.get("profiles")}
    expected = {"edge"} | {
        f"{part}-{node}"
        for node in ("a", "b")
        for part in ("pbx-config", "asterisk", "agi", "app", "monitor")
    }
    assert profiled == expected
    assert all(services[name]["profiles"] == ["nodes"] for name in profiled)
    assert services["edge"]["command"] == ["edge", "run"]
    for node in ("a", "b"):
        assert services[f"pbx-config-{node}"]["command"][:2] == ["--node", f"pbx-{node}"]
        config = f"/var/lib/hotline/nodes/pbx-{node}/asterisk/etc/asterisk.conf"
        assert services[f"asterisk-{node}"]["command"][-1] == config
        for part in ("agi", "app", "monitor"):
            assert services[f"{part}-{node}"]["command"] == ["--node", f"pbx-{node}", part]
