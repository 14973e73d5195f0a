#!/usr/bin/env bash
# `pnpm test`: every package's tests. The packages run two at a time (most of their time is spent
# waiting on timers and sockets, not the CPU), then the cross-service tests in e2e on their own: they
# start whole stacks with short-lived instance credentials, and on two cores a second package beside
# them made one of those time out. A failing package does not stop the others (--continue); the
# exit status is non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
# The suite runs on Node 24 LTS; on an older Node, say so and bring it (scripts/node-runtime.sh).
if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number);const [x,y]=require("./package.json").engines.node.match(/\d+/g).map(Number);process.exit(a>x||(a===x&&b>=y)?0:1)'; then
  echo "Node $(node --version) is older than kms-share supports ($(node -p 'require("./package.json").engines.node')): running the tests on Node 24 LTS"
  bin=$(bash scripts/node-runtime.sh 24) || exit 1
  export PATH="$bin:$PATH"
fi
node scripts/check-test-tools.mjs || exit 1
# tap builds one test runner for the workspace from the plugins in .taprc; build it once here, so the
# packages that start together do not each find it stale and rebuild it over one another.
(cd packages/policy && pnpm exec tap build >/dev/null) || { echo "tap build failed"; exit 1; }
status=0
pnpm exec turbo run test --concurrency=2 --continue --filter='!@kms-share/e2e' || status=1
pnpm exec turbo run test --concurrency=1 --continue --filter=@kms-share/e2e || status=1
exit "$status"
