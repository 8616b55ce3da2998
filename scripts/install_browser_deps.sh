#!/usr/bin/env bash
# Install what tests/test_app_browser.py needs: Chromium + chromedriver (Debian packages) and
# playwright-core (npm, pinned by tests/browser/package-lock.json). Safe to run again: apt-get is
# skipped when Chromium is present. Called by .ci/run; needs root (or sudo) for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  echo "install_browser_deps: chromium present ($(chromium --version 2>/dev/null | head -n 1))"
else
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO nice -n 10 apt-get update -qq
  $SUDO nice -n 10 apt-get install -y -qq chromium chromium-driver
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "install_browser_deps: npm not found; install Node.js >= 20 to run the browser test" >&2
  exit 1
fi
(cd tests/browser && nice -n 10 npm ci --no-audit --no-fund)
