#!/usr/bin/env bash
# Installs everything Loupe needs, and only what is missing, so a second run takes seconds:
# Debian packages (libtorch and what the build, the benchmarks and the tests use), npm
# packages, the native engine and the compiled TypeScript.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  libtorch-dev          # the training engine (PyTorch's C++ core)
  libopenblas0-pthread  # a fast BLAS for libtorch's dense layers (the reference BLAS is ~5x slower)
  g++ make python3      # node-gyp builds the addons with these
  libjpeg62-turbo-dev libpng-dev  # the serving decoder (native/src/image_*.cc)
  python3-torch python3-torchvision python3-numpy python3-pil  # baselines in bench/ and cross-checks
  python3-sklearn       # the evaluation metrics are checked against scikit-learn
  chromium              # the web app's end-to-end tests, and exported models in onnxruntime-web
  dataset-fashion-mnist # benchmark data (70k labelled images)
  darknet               # real photos used by the backbone parity tests
  sox                   # synthesises the audio sample and test recordings
  prometheus            # promtool and a real Prometheus check /metrics and the alert rules in deploy/
)

log() { printf '\033[1msetup:\033[0m %s\n' "$*"; }

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  [[ $pkg == \#* ]] && continue
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if ! command -v apt-get >/dev/null; then
    cat >&2 <<MSG
setup: this system has no apt-get, so these cannot be installed for you: ${missing[*]}
Install their equivalents with your package manager. For the engine you need libtorch 1.13 or
newer (PyTorch's C++ distribution, CPU build, cxx11 ABI): unpack it anywhere and point the build
at it with   export LIBTORCH_DIR=/path/to/libtorch   then run make setup again.
MSG
    [[ -n "${LIBTORCH_DIR:-}" ]] || exit 1
  else
    sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    log "installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

# npm packages, when the lockfile changed since the last install.
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -d node_modules || "$(cat node_modules/.loupe-lock-hash 2>/dev/null)" != "$lock_hash" ]]; then
  log "installing npm packages"
  # onnxruntime-node's install script would try to download CUDA binaries; its CPU build ships in the package.
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" >node_modules/.loupe-lock-hash
fi

# The native engine and the serving image decoder, when their sources changed (make then
# recompiles only the files that did).
nodedir=$(node -p "require('path').resolve(process.execPath, '../..')")
gyp_args=()
[[ -f "$nodedir/include/node/node_api.h" ]] && gyp_args+=("--nodedir=$nodedir")
if [[ ! -f native/build/Makefile || native/binding.gyp -nt native/build/Makefile ]]; then
  log "configuring the native engine"
  npx --no-install node-gyp configure --directory native "${gyp_args[@]}" --loglevel=error
fi
native_hash=$(cat native/binding.gyp native/src/* | sha256sum | cut -d' ' -f1)
if [[ ! -f native/build/Release/loupe_native.node || ! -f native/build/Release/loupe_image.node ||
  "$(cat native/build/.loupe-src-hash 2>/dev/null)" != "$native_hash" ]]; then
  log "building the native addons (libtorch engine, image decoder)"
  npx --no-install node-gyp build --directory native --jobs "$(nproc)" "${gyp_args[@]}" --loglevel=error >/dev/null
  echo "$native_hash" >native/build/.loupe-src-hash
fi

# The TypeScript (incremental: seconds when nothing changed).
npx --no-install tsc -p tsconfig.json

# The web app (web/ → web/dist/, served by loupe serve), when its sources changed.
scripts/build-web.sh

# The official Python safetensors reader, for a cross-check in the tests. Best effort: it needs
# a Python package index, and the tests fall back to an independent numpy reader without it.
if [[ ! -d .cache/python/safetensors ]] && command -v python3 >/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check --no-deps --target .cache/python safetensors \
    >/dev/null 2>&1 || true
fi
