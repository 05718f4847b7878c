#!/usr/bin/env bash
# Measures the demo page on impaired links and writes docs/bandwidth-results-browser.md:
#
#   bash tests/browser/bandwidth-results.sh
#
# Runs relay-check.mjs and links.mjs through tests/browser/ci.sh (Chromium, the server build,
# the loopback-only namespace, a fresh server) with the links' figures written to
# docs/bandwidth-results-browser.json, then the table from them. Failing cases are figures too:
# the file is written whenever links.mjs wrote its report; the exit status is ci.sh's.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
json="$root/docs/bandwidth-results-browser.json"
md="$root/docs/bandwidth-results-browser.md"

rm -f "$json.new"
BROWSER_TESTS="relay-check links" LINKS_REPORT="$json.new" bash "$here/ci.sh"
status=$?
if [ ! -s "$json.new" ]; then
  echo "error: links.mjs wrote no report; $md left as it was" >&2
  exit 1
fi
mv "$json.new" "$json"
node "$here/bandwidth-results-browser.mjs" "$json" >"$md.new" && mv "$md.new" "$md"
echo "wrote $md (links: exit $status)"
exit "$status"
