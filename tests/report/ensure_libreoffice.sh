#!/usr/bin/env bash
# Test setup for tests/report/test_workbook_print.py: Debian's LibreOffice Calc (headless), which
# prints the workbook to PDF so the test can count its pages, a CJK font, and poppler's pdftotext,
# which reads the pages' text back. Idempotent; needs root (CI runs as root).
set -euo pipefail
need=()
command -v soffice >/dev/null 2>&1 || need+=(libreoffice-calc)
fc-list :lang=zh 2>/dev/null | grep -q . || need+=(fonts-wqy-microhei)
command -v pdftotext >/dev/null 2>&1 || need+=(poppler-utils)
if ((${#need[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -q
    apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${need[@]}"
fi
soffice --version
