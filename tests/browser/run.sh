#!/bin/sh
# Browser tests of the web client. Needs node >= 20 and /usr/bin/chromium
# (apt-get install -y chromium). Runs the end-to-end tests only when TELESFU_URL names a
# running server, e.g. TELESFU_URL=http://127.0.0.1:8080 tests/browser/run.sh
# (bash tests/browser/ci.sh does everything itself: Chromium, server, loopback-only namespace.)
set -eu
cd "$(dirname "$0")"
npm ci --silent --no-audit --no-fund
status=0
node sframe-vectors.mjs || status=1
node worker-loopback.mjs || status=1
node page-smoke.mjs || status=1
if [ -n "${TELESFU_URL:-}" ]; then
  node e2e.mjs || status=1
else
  echo "TELESFU_URL not set: skipping e2e.mjs"
fi
exit $status
