"""deploy/: the compose file for N replicas behind nginx, and the Kubernetes manifests, checked
as files. The manifests are validated against the Kubernetes API schemas (kubernetes-validate,
strict: an unknown field fails), and every setting they give must be one screenshotd reads."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from screenshotd.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
KUBE = ROOT / "deploy" / "kubernetes"
COMPOSE = ROOT / "deploy" / "compose"
KUBERNETES_VERSION = "1.30.0"


def manifests() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(KUBE.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        found += [(path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return found


def by_kind(kind: str) -> dict[str, Any]:
    [doc] = [doc for _, doc in manifests() if doc["kind"] == kind]
    return doc


@pytest.mark.parametrize(("name", "doc"), manifests(),
                         ids=[f"{name}:{doc['kind']}" for name, doc in manifests()])
def test_every_manifest_is_valid_kubernetes(name: str, doc: dict[str, Any]):
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_a_typo_in_a_manifest_is_caught():
    """The validation can fail: a misspelt field is refused."""
    service = yaml.safe_load((KUBE / "service.yaml").read_text())
    service["spec"]["ports"][0]["tagetPort"] = service["spec"]["ports"][0].pop("targetPort")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(service, KUBERNETES_VERSION, strict=True)


def test_the_kustomization_lists_every_manifest():
    kustomization = yaml.safe_load((KUBE / "kustomization.yaml").read_text())
    files = {p.name for p in KUBE.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files


def test_the_deployment_is_ready_on_health_and_drains_before_it_stops():
    deployment = by_kind("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert container["lifecycle"]["preStop"]["sleep"]["seconds"] >= 5
    config = by_kind("ConfigMap")["data"]
    # preStop, uvicorn's drain (15 s), the jobs' grace, then handing back: before SIGKILL
    budget = 5 + 15 + float(config["SHUTDOWN_GRACE_SECONDS"]) + 10
    assert pod["terminationGracePeriodSeconds"] >= budget
    assert {"configMapRef": {"name": "screenshotd"}} in container["envFrom"]
    [shm] = [m for m in container["volumeMounts"] if m["mountPath"] == "/dev/shm"]
    [volume] = [v for v in pod["volumes"] if v["name"] == shm["name"]]
    assert volume["emptyDir"]["medium"] == "Memory"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"USER {pod['securityContext']['runAsUser']}" in dockerfile
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_the_config_map_is_settings_screenshotd_reads_with_jobs_on_redis():
    config = by_kind("ConfigMap")["data"]
    settings = Settings.from_env({k: v for k, v in config.items() if k != "FORWARDED_ALLOW_IPS"})
    assert settings.jobs_kind == "redis" and settings.host == "0.0.0.0"
    host = urlsplit(settings.redis_url).hostname
    services = {doc["metadata"]["name"] for _, doc in manifests() if doc["kind"] == "Service"}
    assert host in services  # REDIS_URL names the Redis Service of redis.yaml


def test_the_autoscaler_scales_the_deployment():
    hpa = by_kind("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == by_kind("Deployment")["metadata"]["name"]
    assert hpa["spec"]["minReplicas"] >= 2


def compose_environment(service: dict[str, Any]) -> dict[str, str]:
    """The environment compose gives, with ``${NAME:-default}`` read as its default."""
    return {k: re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", str(v))
            for k, v in service["environment"].items()}


def test_compose_runs_replicas_behind_nginx_on_one_redis():
    compose = yaml.safe_load((COMPOSE / "docker-compose.yml").read_text())
    app, nginx, redis = (compose["services"][n] for n in ("screenshotd", "nginx", "redis"))
    assert "ports" not in app  # scaled with --scale: only nginx publishes a port
    assert nginx["ports"] == ["8080:80"]
    env = compose_environment(app)
    settings = Settings.from_env({k: v for k, v in env.items() if k != "FORWARDED_ALLOW_IPS"})
    assert settings.jobs_kind == "redis" and settings.redis_url == "redis://redis:6379/0"
    assert "volatile-lru" in redis["command"]
    conf = (COMPOSE / "nginx.conf").read_text()
    assert "proxy_buffering off;" in conf  # the event streams pass at once
    assert "resolver 127.0.0.11" in conf and "set $replicas http://screenshotd:3000;" in conf


@pytest.mark.parametrize("path", [ROOT / "docker-compose.yml", COMPOSE / "docker-compose.yml"])
def test_redis_never_evicts_the_job_queue(path: Path):
    """allkeys-lru could drop the queue or a running job under memory pressure."""
    compose = yaml.safe_load(path.read_text())
    command = compose["services"]["redis"]["command"]
    assert command[command.index("--maxmemory-policy") + 1] == "volatile-lru"
