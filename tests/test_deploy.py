"""The deployment manifests in ``deploy/``: the compose file checked offline against the compose
specification (vendored in check-jsonschema); the Helm chart rendered offline by
``deploy/helm/render`` (Helm's template engine rebuilt on Debian's Go libraries, as no helm
binary is installable here) and every rendered manifest validated against Kubernetes' own
schemas (kubernetes-validate, strict: an unknown field fails) for every Kubernetes minor the
chart targets; and both describing the same topology as ``python -m bot run --replicas``."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from kubernetes_validate.utils import all_versions  # type: ignore[import-untyped]
from packaging.version import Version

from bot.app import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "deploy"
CHART = DEPLOY / "helm" / "shop-assistant"
SCALE_OUT_VALUES = DEPLOY / "helm" / "values-scale-out.yaml"
CHECK = str(Path(sys.executable).with_name("check-jsonschema"))
KINDS = ("hub", "rasa", "actions")


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


def test_rasas_endpoints_keep_trackers_in_postgresql_and_locks_in_redis() -> None:
    endpoints = yaml.safe_load((DEPLOY / "rasa-endpoints.yml").read_text(encoding="utf-8"))
    assert endpoints["tracker_store"] == {
        "type": "SQL",
        "dialect": "postgresql",
        "url": "${BOT_RASA_TRACKER_URL}",
    }
    assert endpoints["lock_store"]["type"] == "redis"


def test_rasas_events_go_to_rabbitmq_as_the_hub_reads_them(default_chart: Rendered) -> None:
    """The manifests' broker matches what ``python -m bot run`` writes for the scale profile."""
    endpoints = yaml.safe_load((DEPLOY / "rasa-endpoints.yml").read_text(encoding="utf-8"))
    broker = endpoints["event_broker"]
    assert broker["type"] == "pika"
    assert broker["password"] == "${BOT_RASA_BROKER_PASSWORD}"  # never in the file
    assert broker["queues"] == ["rasa_events"]  # BOT_RASA_EVENTS_QUEUE's default
    assert broker["exchange_name"] == "rasa-exchange"
    services = _compose()["services"]
    assert services["rasa"]["environment"]["BOT_RASA_BROKER_HOST"] == "rabbitmq"
    assert "rabbitmq" in services["migrate"]["depends_on"]  # which the replicas wait for
    assert services["rabbitmq"]["environment"]["RABBITMQ_DEFAULT_USER"] == broker["username"]
    rasa = _container(default_chart.get("Deployment", "release-name-rasa"))
    assert _env(rasa)["BOT_RASA_BROKER_HOST"] == "rabbitmq"  # values.yaml's rabbitmqHost
    assert _env(rasa)["BOT_RASA_LOCK_STORE_HOST"] == "redis"


# The Helm chart, rendered offline and validated against Kubernetes' schemas.


@dataclass(frozen=True)
class Rendered:
    """What the renderer wrote: each manifest with the template file it came from."""

    manifests: list[tuple[str, dict[str, Any]]]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        """The one manifest of that kind and name."""
        found = [m for _, m in self.manifests if (m["kind"], m["metadata"]["name"]) == (kind, name)]
        assert len(found) == 1, (kind, name, self.names())
        return found[0]

    def names(self) -> set[tuple[str, str]]:
        return {(m["kind"], m["metadata"]["name"]) for _, m in self.manifests}


@pytest.fixture(scope="module")
def renderer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The chart renderer, built offline from ``deploy/helm/render`` with Debian's Go."""
    binary = tmp_path_factory.mktemp("renderer") / "render"
    built = subprocess.run(
        [str(DEPLOY / "helm" / "render" / "build.sh"), str(binary)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    return binary


def _render(renderer: Path, out: Path, *args: str, chart: Path = CHART) -> Rendered:
    """Renders the chart as ``helm template``; a refusal fails with the renderer's message."""
    rendered = _run_renderer(renderer, out, *args, chart=chart)
    assert rendered.returncode == 0, rendered.stderr
    manifests = []
    for file in sorted(out.rglob("*.yaml")):
        source = file.relative_to(out).as_posix()
        manifests += [(source, doc) for doc in yaml.safe_load_all(file.read_text("utf-8")) if doc]
    return Rendered(manifests)


def _run_renderer(
    renderer: Path, out: Path, *args: str, chart: Path = CHART
) -> subprocess.CompletedProcess[str]:
    command = [str(renderer), "--output-dir", str(out), *args, str(chart)]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def _invalid(rendered: Rendered, kube_version: str) -> list[str]:
    """Every manifest that Kubernetes' schema of that version refuses, and why."""
    problems = []
    for source, manifest in rendered.manifests:
        where = f"{source}: {manifest.get('kind')}/{manifest.get('metadata', {}).get('name')}"
        if not isinstance(manifest.get("apiVersion"), str) or not isinstance(
            manifest.get("kind"), str
        ):
            problems.append(f"{where}: no apiVersion or kind")
            continue
        try:
            kubernetes_validate.validate(manifest, kube_version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            problems.append(f"{where}: {path}: {error.message}")
        except (
            kubernetes_validate.SchemaNotFoundError,
            kubernetes_validate.InvalidSchemaError,
        ) as error:
            # The command line only warns about a kind it has no schema for; here it fails.
            problems.append(f"{where}: {error.message}")
    return problems


def _targeted_kubernetes() -> list[str]:
    """Every Kubernetes minor from the chart's kubeVersion floor that the schemas cover."""
    constraint = yaml.safe_load((CHART / "Chart.yaml").read_text("utf-8"))["kubeVersion"]
    floor = re.fullmatch(r">=\s*(\d+\.\d+\.\d+)-0", constraint)
    assert floor, f"tests expect kubeVersion '>=X.Y.Z-0', not {constraint!r}"
    known = all_versions()
    assert floor[1] in known, f"kubernetes-validate has no schemas for {floor[1]}: {known}"
    return [v for v in known if Version(v) >= Version(floor[1])]


@pytest.fixture(scope="module")
def default_chart(renderer: Path, tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    return _render(renderer, tmp_path_factory.mktemp("default"))


def _compose() -> dict[str, Any]:
    compose: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text("utf-8"))
    return compose


def _container(manifest: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = manifest["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container["env"]}


def test_the_chart_renders_valid_manifests_for_every_kubernetes_it_targets(
    renderer: Path, tmp_path: Path
) -> None:
    versions = _targeted_kubernetes()
    assert versions[0] == "1.25.0"
    assert len(versions) >= 13  # up to 1.37 at least
    for version in versions:
        rendered = _render(renderer, tmp_path / version, f"--kube-version={version}")
        assert _invalid(rendered, version) == [], version
        assert rendered.names() == {
            *(("Deployment", f"release-name-{kind}") for kind in KINDS),
            *(("Service", f"release-name-{kind}") for kind in KINDS),
            ("Job", "release-name-migrate"),
            ("Job", "release-name-ingest"),
        }
    refused = _run_renderer(renderer, tmp_path / "old", "--kube-version=1.24.0")
    assert refused.returncode == 1
    assert refused.stderr == (
        "Error: chart requires kubeVersion: >=1.25.0-0 which is incompatible with Kubernetes "
        "v1.24.0\n"
    )


def test_the_chart_renders_valid_manifests_with_the_scale_out_values(
    renderer: Path, tmp_path: Path
) -> None:
    rendered = _render(renderer, tmp_path, "shop", "-f", str(SCALE_OUT_VALUES))
    for version in (_targeted_kubernetes()[0], _targeted_kubernetes()[-1]):
        assert _invalid(rendered, version) == [], version
    replicas = {k: rendered.get("Deployment", f"shop-{k}")["spec"]["replicas"] for k in KINDS}
    assert replicas == {"hub": 4, "rasa": 4, "actions": 3}
    hub = _container(rendered.get("Deployment", "shop-hub"))
    assert hub["image"] == "registry.example.com/shop/shop-assistant:0.1.0"
    assert hub["resources"] == {
        "requests": {"cpu": "1", "memory": "1Gi"},
        "limits": {"memory": "2Gi"},
    }
    assert hub["envFrom"] == [{"secretRef": {"name": "shop-assistant-production"}}]
    assert _env(hub)["BOT_RASA_HOST"] == "shop-rasa"
    assert _env(hub)["BOT_CHROMA_URL"] == "http://chroma.data.svc.cluster.local:8000"
    # Values the file leaves out keep their defaults.
    ingest = _container(rendered.get("Job", "shop-ingest"))
    assert ingest["command"][-1] == "knowledge/sample/kb"


def test_values_outside_the_schema_are_refused_before_rendering(
    renderer: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("replicas: {hub: 0}\nchromaUrl: chroma:8000\nreplicaz: 3\n", encoding="utf-8")
    refused = _run_renderer(renderer, tmp_path / "out", "-f", str(bad))
    assert refused.returncode == 1
    assert refused.stderr == (
        "Error: values don't meet the specifications of the schema(s) in the following chart(s):\n"
        "shop-assistant:\n"
        "- (root): Additional property replicaz is not allowed\n"
        "- chromaUrl: Does not match pattern '^https?://[^/]+$'\n"
        "- replicas.hub: Must be greater than or equal to 1\n"
    )


@pytest.mark.parametrize(
    ("template", "original", "broken", "complaints"),
    [
        # A typo'd field: Kubernetes' schema misses the real one.
        (
            "processes.yaml",
            "      containers:\n",
            "      containerz:\n",
            [
                "shop-assistant/templates/processes.yaml: Deployment/release-name-hub: "
                "spec.template.spec: 'containers' is a required property"
            ],
        ),
        (
            "processes.yaml",
            "envFrom:",
            "envFromm:",
            [
                "shop-assistant/templates/processes.yaml: Deployment/release-name-rasa: "
                "spec.template.spec.containers.0: Additional properties are not allowed "
                "('envFromm' was unexpected)"
            ],
        ),
        (
            "migrate.yaml",
            "backoffLimit: 3",
            "backoffLimit: three",
            [
                "shop-assistant/templates/migrate.yaml: Job/release-name-migrate: "
                "spec.backoffLimit: 'three' is not of type 'integer', 'null'"
            ],
        ),
        # A bad indent: the template no longer renders YAML.
        (
            "ingest.yaml",
            "  backoffLimit: 3\n",
            " backoffLimit: 3\n",
            [
                "Error: YAML parse error on shop-assistant/templates/ingest.yaml: error "
                "converting YAML to JSON: yaml: line 10: mapping values are not allowed in "
                "this context"
            ],
        ),
        # A bad indent that still parses: the probe's settings land inside httpGet.
        (
            "processes.yaml",
            "          readinessProbe:\n            httpGet: {path: {{ $spec.health }}, port: {{ $spec.port }}}\n"
            "            periodSeconds: 10\n",
            "          readinessProbe:\n            httpGet:\n              path: {{ $spec.health }}\n"
            "              port: {{ $spec.port }}\n              periodSeconds: 10\n",
            [
                "shop-assistant/templates/processes.yaml: Deployment/release-name-hub: "
                "spec.template.spec.containers.0.readinessProbe.httpGet: Additional properties "
                "are not allowed ('periodSeconds' was unexpected)"
            ],
        ),
        # Template errors, as Helm words them.
        (
            "migrate.yaml",
            "{{ .Values.secretName }}",
            "{{ .Values.secretName | nosuchfunc }}",
            [
                'Error: parse error at (shop-assistant/templates/migrate.yaml:19): function "nosuchfunc" not defined'
            ],
        ),
        (
            "processes.yaml",
            "{{ index $.Values.replicas $kind }}",
            '{{ required "set replicas.workers" $.Values.replicas.workers }}',
            [
                "Error: execution error at (shop-assistant/templates/processes.yaml:15:15): set replicas.workers"
            ],
        ),
    ],
)
def test_a_broken_template_is_refused_naming_its_file(
    renderer: Path,
    tmp_path: Path,
    template: str,
    original: str,
    broken: str,
    complaints: list[str],
) -> None:
    chart = tmp_path / "shop-assistant"
    shutil.copytree(CHART, chart)
    file = chart / "templates" / template
    text = file.read_text("utf-8")
    assert original in text
    file.write_text(text.replace(original, broken), encoding="utf-8")
    attempt = _run_renderer(renderer, tmp_path / "out", chart=chart)
    if attempt.returncode != 0:
        found = attempt.stderr.splitlines()
    else:
        found = _invalid(_render(renderer, tmp_path / "out", chart=chart), "1.25.0")
    assert set(found) >= set(complaints), found
    assert found, "the broken template went through"


def test_the_renderer_gives_templates_what_helm_gives_them(renderer: Path, tmp_path: Path) -> None:
    """Partials and include, tpl, toYaml, lookup (empty without a cluster), the built-in objects,
    .Files, a values file whose null deletes a default, and a missing value printing nothing."""
    chart = tmp_path / "demo"
    (chart / "templates").mkdir(parents=True)
    files = {
        "Chart.yaml": 'apiVersion: v2\nname: demo\nversion: 1.2.3\nappVersion: "4.5"\n',
        "values.yaml": 'greeting: "hello {{ .Release.Name }}"\nlabels: {tier: web, team: shop}\n'
        "dropped: yes-by-default\ncount: 3\n",
        "notes.txt": "line 1\nline 2\n",
        "templates/_helpers.tpl": '{{- define "demo.labels" -}}\napp: {{ .Chart.Name }}\n'
        "{{ toYaml .Values.labels }}\n{{- end }}\n",
        "templates/config.yaml": """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-{{ .Chart.Name }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "demo.labels" . | nindent 4 }}
data:
  greeting: {{ tpl .Values.greeting . | quote }}
  template: {{ .Template.Name }}
  kube: "{{ .Capabilities.KubeVersion.Minor }} {{ .Capabilities.APIVersions.Has "apps/v1" }}"
  app: {{ .Chart.AppVersion | quote }}
  count: {{ .Values.count | quote }}
  dropped: {{ .Values.dropped | default "gone" | quote }}
  found: {{ lookup "v1" "Secret" "default" "x" | len | quote }}
  file: {{ .Files.Get "notes.txt" | trim | quote }}
  missing: "{{ .Values.nope }}"
  newer: {{ semverCompare ">=1.30-0" .Capabilities.KubeVersion.Version | quote }}
""",
    }
    for name, text in files.items():
        (chart / name).write_text(text, encoding="utf-8")
    override = tmp_path / "override.yaml"
    override.write_text("dropped: null\ncount: 5\n", encoding="utf-8")
    command = [str(renderer), "demo2", str(chart), "-f", str(override), "--namespace", "shop"]
    rendered = subprocess.run(
        [*command, "--kube-version", "1.29.4"], capture_output=True, text=True, check=False
    )
    assert rendered.returncode == 0, rendered.stderr
    assert (
        rendered.stdout
        == """---
# Source: demo/templates/config.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: demo2-demo
  namespace: shop
  labels:
    app: demo
    team: shop
    tier: web
data:
  greeting: "hello demo2"
  template: demo/templates/config.yaml
  kube: "29 true"
  app: "4.5"
  count: "5"
  dropped: "gone"
  found: "0"
  file: "line 1\\nline 2"
  missing: ""
  newer: "false"
"""
    )


def test_every_deployment_is_probed_where_compose_checks_its_health(
    default_chart: Rendered,
) -> None:
    services = _compose()["services"]
    probes = {}
    for kind in KINDS:
        container = _container(default_chart.get("Deployment", f"release-name-{kind}"))
        readiness, liveness = container["readinessProbe"], container["livenessProbe"]
        assert readiness["httpGet"] == liveness["httpGet"], kind
        probes[kind] = (readiness["httpGet"]["path"], readiness["httpGet"]["port"])
        assert container["ports"] == [{"containerPort": probes[kind][1]}]
        url = re.search(
            r"http://127\.0\.0\.1:(\d+)(/\S*?)'", services[kind]["healthcheck"]["test"][-1]
        )
        assert url, services[kind]["healthcheck"]
        assert (url[2], int(url[1])) == probes[kind], kind
    assert probes == {"hub": ("/healthz", 8000), "rasa": ("/", 5005), "actions": ("/health", 5055)}


def test_compose_and_helm_describe_the_same_topology(default_chart: Rendered) -> None:
    services = _compose()["services"]
    values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    for kind in KINDS:
        deployment = default_chart.get("Deployment", f"release-name-{kind}")
        assert deployment["spec"]["replicas"] == services[kind]["deploy"]["replicas"], kind
        container = _container(deployment)
        assert container["command"] == services[kind]["command"], kind
        env = _env(container)
        for name in ("BOT_PROFILE", "BOT_REDIS_URL", "BOT_CHROMA_URL", "RASA_TELEMETRY_ENABLED"):
            assert env[name] == services[kind]["environment"][name], (kind, name)
        # Replicas reach each other through Services here, through nginx in compose.
        assert (env["BOT_RASA_HOST"], env["BOT_RASA_PORT"]) == ("release-name-rasa", "5005")
        assert (env["BOT_ACTIONS_HOST"], env["BOT_ACTIONS_PORT"]) == (
            "release-name-actions",
            "5055",
        )
        service = default_chart.get("Service", f"release-name-{kind}")
        assert service["spec"]["selector"] == deployment["spec"]["template"]["metadata"]["labels"]
        assert [p["port"] for p in service["spec"]["ports"]] == [
            c["containerPort"] for c in container["ports"]
        ]
    # Migrations run once before the replicas in both, the ingestion once after.
    migrate = default_chart.get("Job", "release-name-migrate")
    assert migrate["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert _container(migrate)["command"] == services["migrate"]["command"]
    assert services["migrate"]["command"] == ["python", "-m", "bot", "db", "upgrade"]
    assert values["replicas"] == {k: services[k]["deploy"]["replicas"] for k in KINDS}


def test_every_replica_reads_one_chroma_server_ingested_once(default_chart: Rendered) -> None:
    """Both manifests run a Chroma server (or name one) for every hub and action server, and
    ingest the knowledge base once into it before the replicas serve."""
    compose = _compose()
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
    job = default_chart.get("Job", "release-name-ingest")
    assert job["metadata"]["annotations"] == {
        "helm.sh/hook": "post-install,post-upgrade",
        "helm.sh/hook-delete-policy": "before-hook-creation,hook-succeeded",
    }
    assert _container(job)["command"] == ingest["command"]
    assert _env(_container(job))["BOT_CHROMA_URL"] == f"http://chroma:{port}"
    for kind in ("hub", "actions"):
        container = _container(default_chart.get("Deployment", f"release-name-{kind}"))
        assert _env(container)["BOT_CHROMA_URL"] == f"http://chroma:{port}", kind
