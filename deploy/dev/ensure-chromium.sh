#!/usr/bin/env bash
# Make sure headless Chromium and its WebDriver are here for the dashboard's browser tests
# (tests/dashboard/test_browser.py, driven by Selenium). They come from Debian (chromium,
# chromium-driver): browsers downloaded by other tools cannot be fetched on CI hosts.
# Idempotent; installs only what is missing, and only as root.
set -euo pipefail
say() { echo "ensure-chromium: $*" >&2; }

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi
[ "$(id -u)" -eq 0 ] || { say "chromium or chromedriver is missing and we are not root: apt-get install chromium chromium-driver"; exit 1; }
say "installing chromium and chromium-driver from Debian"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 apt-get install -y -qq chromium chromium-driver >/dev/null
say "$(chromium --version 2>/dev/null | head -1)"
