"""deploy/kubernetes: every manifest valid offline, the pieces consistent, the config loadable.

kubernetes-validate checks each object against the Kubernetes OpenAPI schema
(strict: unknown fields fail). The ServiceMonitor is a CRD it cannot know, so
it is checked structurally. ``kubectl kustomize`` renders the overlay when a
kubectl or kustomize binary is present; nothing else needs a cluster.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from sentinel.app.daemon import STOP_GRACE_MAX
from sentinel.config import ConfigError, load_config
from tests.services import missing

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "kubernetes"
# The oldest minor still commonly in extended support, and the newest the library knows.
VERSIONS = ("1.30.0", f"{kubernetes_validate.latest_version()}.0")
CRD_KINDS = {"ServiceMonitor"}
NAMESPACE = "sentinel"
REQUIRED_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")  # ${VAR} without a default

Doc = dict[str, Any]


def docs(path: Path) -> list[Doc]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def manifests() -> list[Path]:
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def one(kind: str) -> Doc:
    found = [d for p in manifests() for d in docs(p) if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def kustomization() -> Doc:
    (doc,) = docs(K8S / "kustomization.yaml")
    return doc


def pod_spec() -> Doc:
    spec: Doc = one("Deployment")["spec"]["template"]["spec"]
    return spec


def container() -> Doc:
    (c,) = pod_spec()["containers"]
    assert isinstance(c, dict)
    return c


def pod_labels() -> dict[str, str]:
    labels: dict[str, str] = one("Deployment")["spec"]["template"]["metadata"]["labels"]
    return labels


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def check_service_monitor(doc: Doc) -> None:
    """The CRD's essentials: the operator's API, a selector and endpoints of the Service."""
    assert doc["apiVersion"] == "monitoring.coreos.com/v1"
    assert doc["metadata"]["name"]
    service = one("Service")
    assert matches(doc["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    ports = {p["name"] for p in service["spec"]["ports"]}
    endpoints = doc["spec"]["endpoints"]
    assert endpoints
    for endpoint in endpoints:
        assert endpoint["port"] in ports
        assert endpoint.get("path", "/metrics") == "/metrics"
    assert set(doc) <= {"apiVersion", "kind", "metadata", "spec"}


def validate(doc: Doc, version: str) -> None:
    if doc["kind"] in CRD_KINDS:
        check_service_monitor(doc)
    else:
        kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("path", manifests(), ids=lambda p: p.name)
def test_manifest_validates(path: Path, version: str) -> None:
    """Each object validates strictly against the Kubernetes schema (ServiceMonitor structurally)."""
    objects = docs(path)
    assert objects, f"{path.name} is empty"
    for doc in objects:
        validate(doc, version)


def test_a_bad_manifest_is_caught() -> None:
    """The validator is real: a typo in a field fails strict validation."""
    deployment = one("Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 1}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[-1], strict=True)


def test_kustomization_lists_every_manifest_but_the_secret_example() -> None:
    """Every resource exists; every manifest is listed, except secret.example.yaml (applied by hand)."""
    listed = kustomization()["resources"]
    for name in listed:
        assert (K8S / name).is_file(), f"{name} is listed but missing"
    assert len(set(listed)) == len(listed)
    expected = {p.name for p in manifests()} - {"secret.example.yaml"}
    assert set(listed) == expected
    assert kustomization()["namespace"] == NAMESPACE


def test_configmap_config_loads_with_the_secrets_keys(tmp_path: Path) -> None:
    """The ConfigMap's sentinel.yaml validates given the Secret's keys, and needs exactly those."""
    text = one("ConfigMap")["data"]["sentinel.yaml"]
    path = tmp_path / "sentinel.yaml"
    path.write_text(text)
    secret = one("Secret")["stringData"]
    assert set(REQUIRED_REF.findall(text)) == set(secret)
    config = load_config(path, secret)
    assert config.server.listen.endswith(":9464")
    assert config.storage.url.get_secret_value().startswith("sqlite:///var/lib/sentinel/")
    with pytest.raises(ConfigError):
        load_config(path, {k: v for k, v in secret.items() if k != "SLACK_BOT_TOKEN"})


def test_secret_example_has_placeholders_for_every_credential() -> None:
    """The example Secret names the six credentials, with placeholder values only."""
    secret = one("Secret")
    assert secret["metadata"]["name"] == "sentinel-secrets"
    assert secret["metadata"]["namespace"] == NAMESPACE
    keys = {
        "SENTINEL_API_TOKEN",
        "SLACK_BOT_TOKEN",
        "PAGERDUTY_ROUTING_KEY",
        "SENDGRID_API_KEY",
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
    }
    assert set(secret["stringData"]) == keys
    assert all("replace" in v for v in secret["stringData"].values())


def test_deployment_single_writer_and_graceful_stop() -> None:
    """One replica, Recreate (SQLite has one writer), and a grace period above sentinel's drain."""
    spec = one("Deployment")["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    assert matches(spec["selector"]["matchLabels"], pod_labels())
    assert pod_spec()["terminationGracePeriodSeconds"] == 45
    assert pod_spec()["terminationGracePeriodSeconds"] > STOP_GRACE_MAX + 5


def test_deployment_security_context() -> None:
    """Non-root uid 10001 as in the Dockerfile, read-only root, /tmp writable, nothing extra."""
    pod = pod_spec()["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] == 10001
    assert f"--uid {pod['runAsUser']}" in (ROOT / "Dockerfile").read_text()
    c = container()["securityContext"]
    assert c["readOnlyRootFilesystem"] is True
    assert c["allowPrivilegeEscalation"] is False
    assert c["capabilities"]["drop"] == ["ALL"]
    assert pod_spec()["automountServiceAccountToken"] is False


def test_deployment_volumes_config_and_secrets() -> None:
    """/etc/sentinel from the ConfigMap, /var/lib/sentinel on the PVC, /tmp an emptyDir; envFrom the Secret."""
    volumes = {v["name"]: v for v in pod_spec()["volumes"]}
    mounts = {m["mountPath"]: m for m in container()["volumeMounts"]}
    config_mount = mounts["/etc/sentinel"]
    assert "subPath" not in config_mount  # so ConfigMap updates reach the file
    config_map = one("ConfigMap")
    assert volumes[config_mount["name"]]["configMap"]["name"] == config_map["metadata"]["name"]
    env = {e["name"]: e.get("value") for e in container()["env"]}
    (key,) = config_map["data"]
    assert env["SENTINEL_CONFIG"] == f"/etc/sentinel/{key}"
    data = volumes[mounts["/var/lib/sentinel"]["name"]]
    assert (
        data["persistentVolumeClaim"]["claimName"]
        == one("PersistentVolumeClaim")["metadata"]["name"]
    )
    assert env["SENTINEL_STORAGE_URL"].startswith("sqlite:///var/lib/sentinel/")
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]
    (source,) = container()["envFrom"]
    assert source["secretRef"]["name"] == one("Secret")["metadata"]["name"]


def test_probes_and_resources() -> None:
    """Liveness on /health, readiness on /ready, on the named port; requests and limits set."""
    c = container()
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"http": 9464}
    assert c["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    for kind in ("requests", "limits"):
        assert set(c["resources"][kind]) == {"cpu", "memory"}


def test_service_pdb_and_network_policy_select_the_pod() -> None:
    """Service, PDB and NetworkPolicy select the pod; port 9464 is http-metrics and allowed in."""
    service = one("Service")
    assert matches(service["spec"]["selector"], pod_labels())
    (port,) = service["spec"]["ports"]
    assert (port["name"], port["port"], port["targetPort"]) == ("http-metrics", 9464, "http")
    pdb = one("PodDisruptionBudget")
    assert matches(pdb["spec"]["selector"]["matchLabels"], pod_labels())
    assert pdb["spec"]["maxUnavailable"] == 1
    policy = one("NetworkPolicy")
    assert matches(policy["spec"]["podSelector"]["matchLabels"], pod_labels())
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    ingress_ports = {p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]}
    assert ingress_ports == {9464}
    egress_ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert {53, 443} <= egress_ports


def kustomize_command() -> list[str] | None:
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    return None


def test_kustomize_renders_valid_objects_in_one_namespace() -> None:
    """kustomize (or kubectl kustomize) renders the overlay; every object validates, namespaced."""
    command = kustomize_command()
    if command is None:
        missing("neither kustomize nor kubectl is installed")
    proc = subprocess.run(
        [*command, str(K8S)], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    rendered = [d for d in yaml.safe_load_all(proc.stdout) if d is not None]
    assert {d["kind"] for d in rendered} == {
        d["kind"] for name in kustomization()["resources"] for d in docs(K8S / name)
    }
    for doc in rendered:
        validate(doc, VERSIONS[-1])
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == NAMESPACE, doc["kind"]
    (deployment,) = [d for d in rendered if d["kind"] == "Deployment"]
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    (pin,) = kustomization()["images"]
    assert image == f"{pin['name']}:{pin['newTag']}"
