# syntax=docker/dockerfile:1
#
# One image for every Marquee service; each runs it with its own command:
#
#   marquee ingest                                  the HTTP service (the default command)
#   marquee worker <validate|render|social|upload|notify> [celery args…]
#   marquee beat                                    the periodic tasks (exactly one)
#   celery -A shared.broker.celery_app flower              the monitoring UI
#
# Nothing secret is built in: settings come from the environment at run time
# (see deploy/README.md). Build: docker build -t marquee:local .

ARG PYTHON_IMAGE=python:3.11-slim

# --- build: install Marquee and its dependencies into a virtualenv ----------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/marquee
ENV PATH=/opt/marquee/bin:$PATH

WORKDIR /src
# Only what the package is built from: never var/, .env or a writers file.
COPY pyproject.toml README.md ./
COPY requirements/deploy.txt ./requirements/
COPY shared ./shared
COPY services ./services

# The dependencies come from the lock (`make lock`): exact versions, every file checked
# against its hash. It is the run lock plus the `deploy` extra, what the services need
# beyond the library (Flower). Then Marquee itself, resolving nothing more. Every
# dependency ships wheels, so no compiler is needed. `pip check` fails the build if the
# lock does not cover pyproject.toml, the import check if Flower is missing, rather than
# shipping an image whose flower service dies.
RUN pip install --no-cache-dir --require-hashes -r requirements/deploy.txt \
    && pip install --no-cache-dir --no-deps "/src[deploy]" \
    && pip check \
    && python -c "import flower, services.cli.main, services.ingest.app"

# --- runtime: the virtualenv, fonts, and an unprivileged user -----------------------------
FROM ${PYTHON_IMAGE} AS runtime

# DejaVu for the social images Pillow draws: fonts-dejavu-core has the upright faces,
# fonts-dejavu-extra the italic and oblique ones the quotes are set in. Versions follow
# the base image's Debian release, so a rebuild picks up its security updates. espeak-ng
# speaks the teaser videos' narration (PyAV's wheel brings FFmpeg itself).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-dejavu-core fonts-dejavu-extra espeak-ng \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 marquee \
    && useradd --system --uid 10001 --gid marquee --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin marquee

COPY --from=build /opt/marquee /opt/marquee

ENV PATH=/opt/marquee/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MARQUEE_INGEST_HOST=0.0.0.0 \
    MARQUEE_INGEST_PORT=8000

WORKDIR /app
# Numeric, so Kubernetes can check runAsNonRoot without reading /etc/passwd.
USER 10001:10001

EXPOSE 8000

# Ingest's liveness. The workers, beat and Flower get their own checks from
# docker-compose.yml and the Kubernetes manifests (celery inspect ping, the beat schedule
# file, Flower's /healthcheck).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('MARQUEE_INGEST_PORT', '8000'), timeout=4)"]

CMD ["marquee", "ingest"]
