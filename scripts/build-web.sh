#!/usr/bin/env bash
# Builds the web app (web/ → web/dist/) when its sources changed since the last build, so a
# second run takes milliseconds. The build goes to a scratch folder that then replaces web/dist
# in one rename, so a running server never sees a half-written app; a lock keeps concurrent
# callers (setup, several test files) from building at once.
set -euo pipefail
cd "$(dirname "$0")/.."

# The app imports server modules for their types only, which never reach the bundle, except
# SHARED: modules it bundles (VegaChart.tsx loads the charts' expression interpreter); a change to
# them must rebuild the app too.
SHARED=(src/charts/expression-interpreter.ts)
sources_hash() {
  { find web -path web/dist -prune -o -path 'web/dist.*' -prune -o -type f -print | LC_ALL=C sort | xargs cat
    cat "${SHARED[@]}" package-lock.json; } | sha256sum | cut -d' ' -f1
}

exec 9>web/dist.lock
flock 9
hash=$(sources_hash)
if [[ -f web/dist/index.html && "$(cat web/dist/.loupe-src-hash 2>/dev/null)" == "$hash" ]]; then
  exit 0
fi
printf '\033[1msetup:\033[0m %s\n' "building the web app (vite)"
scratch="$PWD/web/dist.new"
rm -rf "$scratch"
npx --no-install vite build --config web/vite.config.ts --outDir "$scratch" --logLevel warn
echo "$hash" >"$scratch/.loupe-src-hash"
rm -rf web/dist.old
[[ -d web/dist ]] && mv web/dist web/dist.old
mv "$scratch" web/dist
rm -rf web/dist.old
