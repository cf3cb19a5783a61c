#!/usr/bin/env bash
# The system tools the tests run that pip cannot install, from Debian's packages:
#   promtool  (package prometheus)  the metrics, Prometheus-rule, Grafana and parity tests
#   chromium  (package chromium)    the status page's browser test (or SENTINEL_CHROMIUM)
#   amtool    (package prometheus-alertmanager, with prometheus-alertmanager itself)
#             the real-Alertmanager source test (tests/sources/test_real_alertmanager.py)
# `make test` runs this first. When a tool is missing it installs the package with
# apt-get as root, or stops at once with the exact command to run. With
# SENTINEL_ALLOW_SKIP=1 (the developer accepts skipped tests) a missing tool that
# cannot be installed is only reported.
set -euo pipefail

chromium="${SENTINEL_CHROMIUM:-chromium}"
missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v "$chromium" >/dev/null 2>&1 || missing+=(chromium)
command -v amtool >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
[ ${#missing[@]} -eq 0 ] && exit 0

command="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
cannot() {
  echo "system-tools: the tests need Debian's ${missing[*]} ($1). Run as root:" >&2
  echo "  $command" >&2
  if [ "${SENTINEL_ALLOW_SKIP:-}" = 1 ]; then
    echo "system-tools: SENTINEL_ALLOW_SKIP=1: the tests that need them will skip" >&2
    exit 0
  fi
  echo "system-tools: or run the tests with SENTINEL_ALLOW_SKIP=1 to skip those tests" >&2
  exit 1
}
[ "$(id -u 2>/dev/null || echo "$EUID")" = 0 ] || cannot "not root, so not installed"
command -v apt-get >/dev/null 2>&1 || cannot "apt-get is not on PATH"

echo "system-tools: installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
for tool in promtool "$chromium" amtool; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "system-tools: $tool is still missing after installing ${missing[*]}" >&2
    exit 1
  }
done
