# screenshotd: a self-hosted screenshot service.
#
#   docker build -t screenshotd .
#   docker run --rm -p 3000:3000 --shm-size=1g screenshotd
#   docker compose up            (with Redis; see docker-compose.yml)
#
# Debian bookworm gives Chromium, the fonts and Python 3.11 from one distribution, all updated by
# Debian's security team together. The system packages come from the same script that `make run`
# and `make test` use (scripts/install-system-deps.sh), and the Python packages from the same
# pyproject.toml, so the image ships what the test suite tested. `make image-test` builds this
# file and runs the image; `make lint` checks it with hadolint (.hadolint.yaml says which rules
# are off, and why).
ARG BASE_IMAGE=debian:bookworm-slim

# ---- runtime: Chromium, fonts, Python 3.11, tini ----
FROM ${BASE_IMAGE} AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LANG=C.UTF-8

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# The Makefile's step (Chromium, fonts, Python, the libraries Playwright's driver needs) plus
# tini as init. `chromium-headless-shell --version` fails the build here if a shared library is
# missing.
COPY scripts/install-system-deps.sh /tmp/install-system-deps.sh
RUN bash /tmp/install-system-deps.sh tini \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log \
        /tmp/install-system-deps.sh \
    && chromium-headless-shell --version

# ---- build: the Python packages into /opt/venv (the Makefile's step, not editable) ----
FROM runtime AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY screenshotd ./screenshotd
# pip and setuptools are only needed to install; the image runs without them. A builder that
# reaches PyPI through its own CA may pass a pip config as the optional secret "pip.conf" (and
# the bundle it names as "pip-ca"): secrets are mounted into this step only, never into a layer.
RUN --mount=type=secret,id=pip.conf,target=/etc/pip.conf \
    --mount=type=secret,id=pip-ca,target=/run/secrets/pip-ca.crt \
    python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --quiet . \
    && /opt/venv/bin/pip uninstall --quiet --yes pip setuptools

# ---- the image: the runtime plus the virtualenv, nothing of the build ----
FROM runtime

ENV HOST=0.0.0.0 \
    PORT=3000 \
    TINI_SUBREAPER=1 \
    LOG_FORMAT=json \
    CHROMIUM_PATH=/usr/bin/chromium-headless-shell \
    PATH=/opt/venv/bin:$PATH

COPY --from=build /opt/venv /opt/venv

# Fail the build, not the first start, when Playwright's Node driver lacks a shared library
# (it needs libatomic.so.1, which slim images do not ship).
RUN /opt/venv/lib/python3.11/site-packages/playwright/driver/node --version \
    && screenshotd --version

# Run as an unprivileged user (numeric, so that Kubernetes' runAsNonRoot can check it).
# Chromium runs without its own sandbox (as Playwright starts it); the container, this user and
# the egress guard are the isolation.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin screenshotd
USER 10001
WORKDIR /home/screenshotd

EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '3000'), timeout=4)"]

# tini reaps Chromium's children and forwards SIGTERM, so shutdown is graceful and leaves no
# zombies. TINI_SUBREAPER keeps that true where tini is not PID 1 (a pod sharing its process
# namespace, buildah run); -e 143 makes a stop by SIGTERM, which the service answers by
# draining and closing Chromium, exit 0 rather than 143.
ENTRYPOINT ["/usr/bin/tini", "-e", "143", "--"]
CMD ["screenshotd", "serve"]
