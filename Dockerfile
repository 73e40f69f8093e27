# screenshotd: a self-hosted screenshot service.
#
#   docker build -t screenshotd .
#   docker run --rm -p 3000:3000 --shm-size=1g screenshotd
#   docker compose up            (with Redis; see docker-compose.yml)
#
# The system packages come from the same script that `make run` and `make test` use
# (scripts/install-system-deps.sh), and the Python packages from the same pyproject.toml, so the
# image ships what the test suite tested: Debian's Chromium, Liberation, Noto emoji and CJK fonts.
# `make lint` checks this file with hadolint (.hadolint.yaml says which rules are off, and why).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOST=0.0.0.0 \
    PORT=3000 \
    LOG_FORMAT=json \
    CHROMIUM_PATH=/usr/bin/chromium \
    PATH=/opt/venv/bin:$PATH

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# System packages: Chromium, fonts, CA certificates (the Makefile's step), plus tini as init.
COPY scripts/install-system-deps.sh /tmp/install-system-deps.sh
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && bash /tmp/install-system-deps.sh \
    && rm -rf /var/lib/apt/lists/* /tmp/install-system-deps.sh

# Python packages into a virtualenv (the Makefile's step, without the editable install).
WORKDIR /app
COPY pyproject.toml README.md ./
COPY screenshotd ./screenshotd
RUN python -m venv /opt/venv && /opt/venv/bin/pip install --quiet .

# Run as an unprivileged user (numeric, so that Kubernetes' runAsNonRoot can check it).
# Chromium runs without its own sandbox (as Playwright starts it); the container, this user and
# the egress guard are the isolation.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin screenshotd
USER 10001

EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '3000'), timeout=4)"]

# tini reaps Chromium's children and forwards SIGTERM, so shutdown is graceful and leaves no zombies.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["screenshotd", "serve"]
