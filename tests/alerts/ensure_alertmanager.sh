#!/usr/bin/env bash
# Test setup for tests/alerts/test_alertmanager.py: Debian's Prometheus Alertmanager (the test starts
# it on 127.0.0.1 with a random port). Idempotent; needs root (CI runs as root).
set -euo pipefail
if ! command -v prometheus-alertmanager >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends prometheus-alertmanager
fi
prometheus-alertmanager --version 2>&1 | head -1
