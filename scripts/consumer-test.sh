#!/usr/bin/env bash
# The package as a user gets it (run by .ci/run; `npm run test:consumer`; root): `npm pack`, a
# check of what the tarball holds, then a fresh app in a temporary directory installs it with no
# C compiler, make or python on PATH (so only the prebuilt addon can work), and runs:
#   - plain-JS ESM, CommonJS (require) and strict-TypeScript consumers (test/consumer/): the
#     flow program on a private loopback with exact counts, exec events from a ring buffer, a
#     consumer of every subpath;
#   - every example from the installed package (node_modules/ebpf/examples);
#   - the command: `npx ebpf --version` (or `help`), `inspect`, `demo --seconds 2`;
#   - the addon-missing hint when no addon fits (EBPF_PREBUILD pointing at an empty directory).
# The Node.js is the one first on PATH; EBPF_CONSUMER_TARBALL names a tarball packed before, in
# place of packing the checkout (scripts/node-versions.sh runs this on other Node.js lines).
# Network namespaces (unshare -n) keep `lo` private, so XDP on it collides with nobody and the
# counts are exact. Prints the time each step took. npm pack rebuilds the checkout's build/, dist/
# and prebuilds/: do not run other tests in the same checkout meanwhile.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
[ "$(id -u)" = 0 ] || { echo "consumer-test: needs root (XDP, tracepoints, uprobes)" >&2; exit 1; }

work=$(mktemp -d /tmp/ebpf-consumer.XXXXXX)
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
started=$SECONDS
step() { echo "consumer-test: [$((SECONDS - started))s] $*"; }

step "node $(node --version), npm $(npm --version)"
if [ -n "${EBPF_CONSUMER_TARBALL:-}" ]; then
  # A tarball packed before (scripts/node-versions.sh packs once for every Node.js it runs).
  step "the tarball given: $EBPF_CONSUMER_TARBALL"
  cp "$EBPF_CONSUMER_TARBALL" "$work/"
else
  step "npm pack (prebuilds for linux-x64 and linux-arm64, dist)"
  npm pack --silent --pack-destination "$work" >"$work/pack.log" 2>&1 || { cat "$work/pack.log"; exit 1; }
fi
tarball=$(ls "$work"/ebpf-*.tgz)
tar tzf "$tarball" | sed 's#^package/##' | sort >"$work/files"
for want in dist/index.js dist/index.d.ts dist/exports/btf.js dist/cli/main.js bin/ebpf.js \
  prebuilds/linux-x64/ebpf.node native/ebpf.c binding.gyp README.md LICENSE package.json \
  testdata/flow-el.o testdata/exec_events-el.o testdata/uprobe-el.o testdata/globals-el.o \
  examples/xdp-flows.js examples/exec-events.js examples/uprobe.js examples/globals.js; do
  grep -qx "$want" "$work/files" || { echo "consumer-test: $want is not in the tarball" >&2; exit 1; }
done
if grep -E '^(test|bench|src|scripts|\.ci|build)/|\.map$|^testdata/.*-eb\.o$' "$work/files" | grep -v '^testdata/\(flow\|globals\|exec_events\|uprobe\)-eb\.o$' >"$work/extra"; then
  echo "consumer-test: the tarball holds files a user does not need:" >&2
  cat "$work/extra" >&2
  exit 1
fi
if command -v aarch64-linux-gnu-gcc >/dev/null; then
  grep -qx prebuilds/linux-arm64/ebpf.node "$work/files" || { echo "consumer-test: no linux-arm64 prebuild" >&2; exit 1; }
fi
echo "consumer-test: tarball $(basename "$tarball"): $(wc -l <"$work/files") files, $(du -k "$tarball" | cut -f1) KiB"

# A PATH without compilers: every command of the current PATH but cc, gcc, g++, clang, make,
# python and the cross compilers.
mkdir "$work/bin"
IFS=: read -ra dirs <<<"$PATH"
for d in "${dirs[@]}"; do
  [ -d "$d" ] || continue
  links=()
  for f in "$d"/*; do
    name=${f##*/}
    [ -x "$f" ] && [ ! -e "$work/bin/$name" ] || continue
    if [[ "$name" =~ ^(cc|c\+\+|c89|c99|cpp|gcc|g\+\+|clang|make|gmake|python|tcc|ld|as)([-.0-9].*)?$ ||
      "$name" =~ -linux-gnu-(gcc|g\+\+|cc|cpp|c\+\+|ld|as) || "$name" =~ ^x86_64-linux-gnu- ]]; then
      continue
    fi
    links+=("$f")
  done
  # One ln a directory, no process a name: a basename and an ln per command took 50 s here.
  [ ${#links[@]} -eq 0 ] || ln -s -t "$work/bin" "${links[@]}"
done
export PATH="$work/bin"
for tool in cc gcc g++ clang make python3 python; do
  if command -v "$tool" >/dev/null; then
    echo "consumer-test: $tool is still on PATH" >&2
    exit 1
  fi
done

step "install into a fresh app, no compiler on PATH"
app="$work/app"
mkdir -p "$app"
cd "$app"
echo '{ "name": "consumer-app", "version": "1.0.0", "private": true }' >package.json
npm install --no-audit --no-fund --foreground-scripts "$tarball" >"$work/install.log" 2>&1 ||
  { cat "$work/install.log"; exit 1; }
[ ! -e node_modules/ebpf/build ] || { echo "consumer-test: the install compiled the addon" >&2; exit 1; }


step "plain-JS ESM consumer"
cp "$REPO/test/consumer/esm.mjs" "$REPO/test/consumer/cjs.cjs" "$REPO/test/consumer/consumer.ts" .
timeout 120 unshare -n sh -c 'ip link set lo up && exec node esm.mjs'

step "CommonJS consumer"
timeout 120 unshare -n sh -c 'ip link set lo up && exec node cjs.cjs' 2>"$work/cjs.err" || { cat "$work/cjs.err"; exit 1; }
if grep -q 'ExperimentalWarning' "$work/cjs.err"; then
  echo "consumer-test: require() warned:" >&2
  cat "$work/cjs.err" >&2
fi

step "strict-TypeScript consumer (tsc, then node)"
cat >tsconfig.json <<EOF
{
  "compilerOptions": {
    "target": "ES2022", "lib": ["ES2022", "ESNext.Disposable"], "module": "NodeNext",
    "moduleResolution": "NodeNext", "strict": true, "noUncheckedIndexedAccess": true,
    "exactOptionalPropertyTypes": true, "skipLibCheck": false, "outDir": "out",
    "types": ["node"], "typeRoots": ["$REPO/node_modules/@types"]
  },
  "files": ["consumer.mts"]
}
EOF
mv consumer.ts consumer.mts
timeout 300 node "$REPO/node_modules/typescript/bin/tsc" -p tsconfig.json
timeout 120 unshare -n sh -c 'ip link set lo up && exec node out/consumer.mjs'

step "examples from the installed package"
ex=node_modules/ebpf/examples
out=$(timeout 60 node "$ex/globals.js")
grep -q '^after reset: XDP_PASS' <<<"$out" || { echo "$out"; exit 1; }
out=$(timeout 60 unshare -n sh -c 'ip link set lo up && exec node "$0" --count 3' "$ex/xdp-flows.js")
grep -Eq '^flow 127\.[0-9]+\.[0-9]+\.1 -> 127\.[0-9]+\.[0-9]+\.2: 3 packets, 426 bytes$' <<<"$out" || { echo "$out"; exit 1; }
out=$(timeout 60 node "$ex/exec-events.js" --seconds 1 --children-only)
[ "$(grep -c '^exec .* comm true filename /bin/true$' <<<"$out")" = 3 ] || { echo "$out"; exit 1; }
out=$(timeout 60 node "$ex/uprobe.js" --calls 5)
grep -qx 'calls 5' <<<"$out" || { echo "$out"; exit 1; }

step "the command"
if npx --no-install ebpf --version >"$work/version" 2>&1; then
  grep -qx "$(node -p 'require("ebpf/package.json").version')" "$work/version" ||
    grep -q "$(node -p 'require("ebpf/package.json").version')" "$work/version" ||
    { cat "$work/version"; exit 1; }
  echo "ebpf --version: $(cat "$work/version")"
else
  echo "consumer-test: 'ebpf --version' is not a command yet ($(head -1 "$work/version")); checking 'ebpf help'" >&2
  npx --no-install ebpf help | grep -q '^  inspect'
fi
npx --no-install ebpf inspect node_modules/ebpf/testdata/flow-el.o | grep -q "flow_map"
timeout 60 npx --no-install ebpf demo --seconds 2 >"$work/demo" 2>&1 || { cat "$work/demo"; exit 1; }
grep -q '^10\.201\.0\.1 ' "$work/demo" || { cat "$work/demo"; exit 1; }

# The checkout's own bin/ebpf.js runs the dist/ that npm pack built, with the checkout's objects.
timeout 60 node "$REPO/bin/ebpf.js" demo --seconds 2 >"$work/demo-bin" 2>&1 || { cat "$work/demo-bin"; exit 1; }
grep -q '^10\.201\.0\.1 ' "$work/demo-bin" || { cat "$work/demo-bin"; exit 1; }

step "the hint when no addon fits"
mkdir "$work/empty"
if EBPF_PREBUILD="$work/empty" node -e 'import("ebpf").then((m) => m.loadObject("node_modules/ebpf/testdata/flow-el.o"))' \
  >"$work/hint" 2>&1; then
  echo "consumer-test: loaded without an addon?" >&2
  exit 1
fi
grep -q 'npm rebuild ebpf' "$work/hint" || { cat "$work/hint"; exit 1; }

step "done"
