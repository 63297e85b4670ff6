"""The deployment manifests in ``deploy/``: the compose file checked offline against the compose
specification (vendored in check-jsonschema), the Helm chart's values against its schema, and
both describing the same topology as ``python -m bot run --replicas``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.app import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "deploy"
CHART = DEPLOY / "helm" / "shop-assistant"
CHECK = str(Path(sys.executable).with_name("check-jsonschema"))


def _check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CHECK, *args], capture_output=True, text=True, check=False)


def test_the_compose_file_follows_the_compose_specification() -> None:
    checked = _check("--builtin-schema", "vendor.compose-spec", str(DEPLOY / "compose.yaml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize(
    ("service", "change", "complaint"),
    [
        ("hub", {"deploy": {"replikas": 2}}, "replikas"),
        ("redis", {"healthcheck": {"interval": 5}}, "interval"),
        ("nginx", {"ports": [{"published": 8000, "bogus": 1}]}, "bogus"),
    ],
)
def test_the_check_refuses_a_broken_compose_file(
    tmp_path: Path, service: str, change: dict[str, object], complaint: str
) -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    compose["services"][service].update(change)
    broken = tmp_path / "compose.yaml"
    broken.write_text(yaml.safe_dump(compose), encoding="utf-8")
    checked = _check("--builtin-schema", "vendor.compose-spec", str(broken))
    assert checked.returncode == 1
    assert complaint in checked.stdout + checked.stderr


def test_the_charts_values_follow_its_schema_and_bad_values_are_refused(tmp_path: Path) -> None:
    schema = str(CHART / "values.schema.json")
    checked = _check("--schemafile", schema, str(CHART / "values.yaml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    values["replicas"]["hub"] = 0
    values["redisUrl"] = "http://redis:6379"
    values["chromaUrl"] = "chroma:8000"
    bad = tmp_path / "values.yaml"
    bad.write_text(yaml.safe_dump(values), encoding="utf-8")
    refused = _check("--schemafile", schema, str(bad))
    assert refused.returncode == 1
    assert "replicas.hub" in refused.stdout
    assert "redisUrl" in refused.stdout
    assert "chromaUrl" in refused.stdout


def test_compose_and_helm_describe_the_same_topology() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert {k: services[k]["deploy"]["replicas"] for k in ("hub", "rasa", "actions")} == values[
        "replicas"
    ]
    for kind in ("hub", "rasa", "actions"):
        assert services[kind]["environment"]["BOT_PROFILE"] == "scale"
        assert "healthcheck" in services[kind]
    templates = (CHART / "templates" / "processes.yaml").read_text(encoding="utf-8")
    for kind in ("hub", "rasa", "actions"):  # the same commands in both
        command = services[kind]["command"]
        assert " ".join(f'"{part}"' for part in command) in templates, kind
    # Migrations run once before the replicas in both.
    assert services["migrate"]["command"] == ["python", "-m", "bot", "db", "upgrade"]
    assert '["python", "-m", "bot", "db", "upgrade"]' in (
        CHART / "templates" / "migrate.yaml"
    ).read_text(encoding="utf-8")


def test_rasas_endpoints_keep_trackers_in_postgresql_and_locks_in_redis() -> None:
    endpoints = yaml.safe_load((DEPLOY / "rasa-endpoints.yml").read_text(encoding="utf-8"))
    assert endpoints["tracker_store"] == {
        "type": "SQL",
        "dialect": "postgresql",
        "url": "${BOT_RASA_TRACKER_URL}",
    }
    assert endpoints["lock_store"]["type"] == "redis"


def test_rasas_events_go_to_rabbitmq_as_the_hub_reads_them() -> None:
    """The manifests' broker matches what ``python -m bot run`` writes for the scale profile."""
    endpoints = yaml.safe_load((DEPLOY / "rasa-endpoints.yml").read_text(encoding="utf-8"))
    broker = endpoints["event_broker"]
    assert broker["type"] == "pika"
    assert broker["password"] == "${BOT_RASA_BROKER_PASSWORD}"  # never in the file
    assert broker["queues"] == ["rasa_events"]  # BOT_RASA_EVENTS_QUEUE's default
    assert broker["exchange_name"] == "rasa-exchange"
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert services["rasa"]["environment"]["BOT_RASA_BROKER_HOST"] == "rabbitmq"
    assert "rabbitmq" in services["migrate"]["depends_on"]  # which the replicas wait for
    assert services["rabbitmq"]["environment"]["RABBITMQ_DEFAULT_USER"] == broker["username"]
    templates = (CHART / "templates" / "processes.yaml").read_text(encoding="utf-8")
    assert "BOT_RASA_BROKER_HOST" in templates


def test_every_replica_reads_one_chroma_server_ingested_once() -> None:
    """Both manifests run a Chroma server (or name one) for every hub and action server, and
    ingest the knowledge base once into it before the replicas serve."""
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    chroma = services["chroma"]
    assert chroma["command"][:2] == ["chroma", "run"]  # the image's chromadb, the client's version
    assert "/api/v2/heartbeat" in " ".join(chroma["healthcheck"]["test"])
    assert "chroma" in compose["volumes"]
    port = chroma["command"][chroma["command"].index("--port") + 1]
    for kind in ("hub", "actions", "ingest"):
        assert services[kind]["environment"]["BOT_CHROMA_URL"] == f"http://chroma:{port}", kind
    ingest = services["ingest"]
    assert ingest["depends_on"]["chroma"] == {"condition": "service_healthy"}
    for kind in ("hub", "actions"):
        assert services[kind]["depends_on"]["ingest"] == {
            "condition": "service_completed_successfully"
        }
    values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    assert ingest["command"] == [
        *("python", "-m", "bot", "kb", "ingest", "--no-progress"),
        values["knowledgeSources"],
    ]
    processes = (CHART / "templates" / "processes.yaml").read_text(encoding="utf-8")
    assert "{name: BOT_CHROMA_URL, value: {{ $.Values.chromaUrl | quote }}}" in processes
    job = (CHART / "templates" / "ingest.yaml").read_text(encoding="utf-8")
    assert '"helm.sh/hook": post-install,post-upgrade' in job
    assert (
        'command: ["python", "-m", "bot", "kb", "ingest", "--no-progress", '
        "{{ .Values.knowledgeSources | quote }}]"
    ) in job
    assert "{name: BOT_CHROMA_URL, value: {{ .Values.chromaUrl | quote }}}" in job
