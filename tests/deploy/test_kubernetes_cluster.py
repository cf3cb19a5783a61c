"""deploy/kubernetes-cluster: the multi-replica overlay renders, validates, and says
what several replicas need: three pods on different nodes, two kept through
disruptions, the PostgreSQL URL from the Secret, no SQLite volume (issue 16)."""

from __future__ import annotations

import subprocess
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from tests.deploy.test_kubernetes import CRD_KINDS, NAMESPACE, ROOT, VERSIONS, kustomize_command
from tests.services import missing

OVERLAY = ROOT / "deploy" / "kubernetes-cluster"


@pytest.fixture(scope="module")
def rendered() -> dict[str, dict[str, Any]]:
    command = kustomize_command()
    if command is None:
        missing("neither kustomize nor kubectl is installed")
    proc = subprocess.run(
        [*command, str(OVERLAY)], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d is not None]
    return {d["kind"]: d for d in docs}


def test_every_object_validates_in_the_namespace(rendered: dict[str, dict[str, Any]]) -> None:
    """Strict schema validation of each rendered object; no PersistentVolumeClaim."""
    assert "PersistentVolumeClaim" not in rendered
    for kind, doc in rendered.items():
        if kind not in CRD_KINDS:
            kubernetes_validate.validate(doc, VERSIONS[-1], strict=True)
        if kind != "Namespace":
            assert doc["metadata"]["namespace"] == NAMESPACE


def test_three_replicas_on_different_nodes_two_kept_through_disruptions(
    rendered: dict[str, dict[str, Any]],
) -> None:
    """replicas 3, rolling one at a time, anti-affinity by hostname, PDB minAvailable 2."""
    spec = rendered["Deployment"]["spec"]
    assert spec["replicas"] == 3
    assert spec["strategy"]["type"] == "RollingUpdate"
    (term,) = spec["template"]["spec"]["affinity"]["podAntiAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    labels = spec["template"]["metadata"]["labels"]
    assert all(labels[k] == v for k, v in term["labelSelector"]["matchLabels"].items())
    pdb = rendered["PodDisruptionBudget"]["spec"]
    assert pdb == {"minAvailable": 2, "selector": pdb["selector"]}


def test_the_store_is_postgresql_from_the_secret_and_members_are_named_by_pod(
    rendered: dict[str, dict[str, Any]],
) -> None:
    """SENTINEL_STORAGE_URL comes from sentinel-secrets (no sqlite value); the member id
    is the pod's name; no volume claims a disk."""
    pod = rendered["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e for e in container["env"]}
    url = env["SENTINEL_STORAGE_URL"]
    assert "value" not in url
    assert url["valueFrom"]["secretKeyRef"] == {
        "name": "sentinel-secrets",
        "key": "SENTINEL_STORAGE_URL",
    }
    assert env["SENTINEL_MEMBER_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert all("persistentVolumeClaim" not in v for v in pod["volumes"])
