#!/usr/bin/env bash
# A stated subset of the suite on the oldest Node kms-share supports (package.json engines.node, 22
# today); the whole suite runs on Node 24 LTS (scripts/test-all.sh). The subset: the libraries
# (policy, shared) and the upload service — what runs on every service and the smallest service.
# The build comes from the Node 24 run: tsc's output does not depend on the Node that runs it.
set -uo pipefail
cd "$(dirname "$0")/.."
oldest=$(node -p 'require("./package.json").engines.node.match(/\d+/)[0]')
bin=$(bash scripts/node-runtime.sh "$oldest") || exit 1
export PATH="$bin:$PATH"
echo "== Node $(node --version) (the oldest supported)"
packages=${OLDEST_NODE_PACKAGES:-"@kms-share/policy @kms-share/shared @kms-share/upload"}
filters=()
for p in $packages; do filters+=("--filter=$p"); done
pnpm exec turbo run build --output-logs=errors-only "${filters[@]/%/...}" || exit 1
exec pnpm exec turbo run test --concurrency=2 --continue --only "${filters[@]}"
