#!/usr/bin/env bash
# Test setup for tests/report/test_report_browser.py: Debian's headless Chromium and a CJK font
# (so the report's screenshot shows Chinese, not boxes). Idempotent; needs root (CI runs as root).
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
fc-list :lang=zh 2>/dev/null | grep -q . || need+=(fonts-wqy-microhei)
if ((${#need[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${need[@]}"
fi
chromium --version
