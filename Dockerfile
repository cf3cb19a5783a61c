# sentinel's container image; how to run it: docs/deployment.md.
#
#   docker build --build-arg VERSION=0.1.0 -t sentinel:0.1.0 .
#
# The base is pinned to an exact Python patch release and Debian suite, so a
# rebuild gets the same interpreter; bump it on purpose (and the same tag in
# both stages).

# -- builder: a venv with sentinel and its pinned dependencies, built as a wheel
FROM python:3.11.13-slim-bookworm AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY sentinel/ sentinel/
# The same command tests/deploy/test_dockerfile.py runs (it reads it from here).
RUN pip install --no-cache-dir -c constraints.txt .

# -- runtime: the venv, a non-root user, the default config
FROM python:3.11.13-slim-bookworm

ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="sentinel" \
      org.opencontainers.image.description="A monitoring daemon that probes services, evaluates alert rules and escalates until someone acknowledges." \
      org.opencontainers.image.source="https://github.com/example/sentinel" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

# A fixed uid/gid so volumes, Kubernetes' runAsUser and file ownership agree.
RUN groupadd --system --gid 10001 sentinel \
 && useradd --system --no-log-init --uid 10001 --gid 10001 \
        --home-dir /var/lib/sentinel --no-create-home --shell /usr/sbin/nologin sentinel \
 && mkdir -p /var/lib/sentinel /etc/sentinel \
 && chown 10001:10001 /var/lib/sentinel

COPY --from=builder /opt/venv /opt/venv
COPY config/container.yaml /etc/sentinel/sentinel.yaml

ENV PATH=/opt/venv/bin:$PATH \
    SENTINEL_CONFIG=/etc/sentinel/sentinel.yaml \
    SENTINEL_STORAGE_URL=sqlite:///var/lib/sentinel/sentinel.db \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /var/lib/sentinel
VOLUME ["/var/lib/sentinel"]
USER 10001:10001
EXPOSE 9464

# `sentinel healthcheck` asks /ready on SENTINEL_LISTEN or server.listen (standard
# library only: the image has no curl). start-period covers the first scheduler tick.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["sentinel", "healthcheck"]

# sentinel is PID 1 and handles SIGTERM itself: it stops starting runs, gives
# runs in flight up to 30 s, flushes the history and exits 0. SIGHUP reloads.
STOPSIGNAL SIGTERM
ENTRYPOINT ["sentinel"]
CMD ["run"]
