#!/usr/bin/env bash
# The suite on Node 24 LTS as well as the machine's Node 20 (past its end of life): Node 24 comes
# from the npm registry's binary package (node-linux-<arch>), unpacked under .tools/, and runs
# the build and the packages named in NODE24_PACKAGES (default: the fast ones; "all" for every package).
set -uo pipefail
cd "$(dirname "$0")/.."
case "$(uname -m)" in x86_64) arch=x64 ;; aarch64|arm64) arch=arm64 ;; *) echo "no Node 24 package for $(uname -m)"; exit 1 ;; esac
dir=.tools/node24-$arch
if [ ! -x "$dir/bin/node" ]; then
  mkdir -p .tools && rm -rf "$dir" "$dir.tmp" && mkdir -p "$dir.tmp"
  tarball=$(cd "$dir.tmp" && npm pack --silent "node-linux-$arch@24" 2>/dev/null | tail -n 1)
  [ -n "$tarball" ] && tar xzf "$dir.tmp/$tarball" -C "$dir.tmp" && mv "$dir.tmp/package" "$dir" && rm -rf "$dir.tmp" || { echo "could not fetch node-linux-$arch@24 from the npm registry"; exit 1; }
fi
export PATH="$PWD/$dir/bin:$PATH"
echo "== Node $(node --version)"
# The workspace's tap runner, built once before packages start side by side (see scripts/test.sh).
(cd packages/policy && pnpm exec tap build >/dev/null) || { echo "tap build failed"; exit 1; }
packages=${NODE24_PACKAGES:-"@kms-share/policy @kms-share/shared @kms-share/upload"}
if [ "$packages" = all ]; then
  pnpm exec turbo run build --force --output-logs=errors-only || exit 1
  exec pnpm exec turbo run test --concurrency=1 --continue
fi
filters=()
for p in $packages; do filters+=("--filter=$p"); done
# Those packages and what they import, built if the Node 20 run has not built them already (tsc's output
# does not depend on the Node that runs it; the build on Node 24 is NODE24_PACKAGES=all's job).
pnpm exec turbo run build --output-logs=errors-only "${filters[@]/%/...}" || exit 1
exec pnpm exec turbo run test --concurrency=2 --continue --only "${filters[@]}"
