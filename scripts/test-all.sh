#!/usr/bin/env bash
# The README's test command and CI's (.ci/run calls this): on a fresh Debian machine, as root,
# install what the tests need (Debian packages, pnpm, the workspace), build, run every test,
# and end with one line "N passed, N failed" for the whole run.
set -uo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

fail() { echo "$1"; echo "0 passed, 1 failed"; exit 1; }

echo "== system packages"
need=()
for pkg in redis-server awscli chromium docker-compose jq curl; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then fail "missing Debian packages: ${need[*]} — run this script as root (or: sudo apt-get install -y ${need[*]})"; fi
  { apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null; } || fail "apt-get install ${need[*]} failed"
fi

echo "== Node 24 LTS"
# The whole suite runs on Node 24 LTS: the machine's own, or the npm registry's binary package (.tools/).
bin=$(bash scripts/node-runtime.sh 24) || fail "could not get Node 24 LTS (scripts/node-runtime.sh)"
export PATH="$bin:$PATH"
node --version

echo "== pnpm"
if [ "$(pnpm --version 2>/dev/null)" != "12.4.2" ]; then
  npm i -g pnpm@12.4.2 >/dev/null 2>&1 || fail "npm i -g pnpm@12.4.2 failed"
fi
pnpm install --frozen-lockfile || fail "pnpm install --frozen-lockfile failed"

echo "== build"
pnpm build || fail "pnpm build failed"

log=$(mktemp)
status=0
echo "== lint"
if pnpm lint; then echo "ok - lint"; else echo "not ok - lint"; status=1; fi
if [ -f docker-compose.yml ]; then
  echo "== docker-compose config"
  if docker-compose -f docker-compose.yml config -q; then echo "ok - docker-compose.yml"; else echo "not ok - docker-compose.yml"; status=1; fi
  # The EC2 file reads each service's env file (on an instance, the boot script's); empty ones will do here.
  envs=$(mktemp -d); for s in upload download keyadmin audit; do : > "$envs/$s.env"; done
  if KMS_SHARE_ENV_DIR=$envs docker-compose -f docker-compose.aws.yml config -q; then echo "ok - docker-compose.aws.yml"; else echo "not ok - docker-compose.aws.yml"; status=1; fi
  rm -rf "$envs"
fi

echo "== tests (Node $(node --version))"
pnpm test 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

echo "== the stated subset on the oldest supported Node"
bash scripts/test-oldest-node.sh 2>&1 | tee -a "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

# tap prints "# { total: N, pass: P, fail: F, ... }" per package
passed=$(grep -oE '# \{ total: [0-9]+, pass: [0-9]+' "$log" | grep -oE 'pass: [0-9]+' | awk '{s+=$2} END {print s+0}')
failed=$(grep -oE '# \{ total: [0-9]+[^}]*fail: [0-9]+' "$log" | grep -oE 'fail: [0-9]+' | awk '{s+=$2} END {print s+0}')
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
rm -f "$log"
echo "$passed passed, $failed failed"
exit "$status"
