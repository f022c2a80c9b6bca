#!/usr/bin/env bash
# Puts the pinned map and chart libraries into frontend/vendor/ (the pages import them from
# there; the project's own JavaScript needs no build step):
#   echarts      dist/echarts.esm.min.mjs                          -> echarts.esm.min.js
#   maplibre-gl  dist/maplibre-gl.mjs, dist/maplibre-gl-worker.mjs -> maplibre-gl.js, ...-worker.js
#                dist/maplibre-gl.css
# (renamed to .js so that every static server, whatever its MIME table, sends them as
# JavaScript, which module scripts and module workers require; the pages call
# maplibregl.setWorkerUrl with the renamed worker)
# frontend/vendor/ is committed, so a fresh clone works offline; this script rebuilds it from
# the npm registry when its VERSIONS stamp differs from the pins below (or with --force).
# It installs into a temporary node_modules and copies only the dist files.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ECHARTS_VERSION="6.1.0"
MAPLIBRE_VERSION="6.17.0"

vendor="frontend/vendor"
stamp="$vendor/VERSIONS"
wanted="echarts@$ECHARTS_VERSION maplibre-gl@$MAPLIBRE_VERSION"
files=(echarts.esm.min.js maplibre-gl.js maplibre-gl-worker.js maplibre-gl.css)

complete() {
    [[ -f "$stamp" && "$(head -n 1 "$stamp")" == "$wanted" ]] || return 1
    local f
    for f in "${files[@]}"; do [[ -s "$vendor/$f" ]] || return 1; done
}

if [[ "${1:-}" != "--force" ]] && complete; then
    exit 0
fi

if ! command -v npm >/dev/null; then
    if [[ -s "$vendor/echarts.esm.min.js" && -s "$vendor/maplibre-gl.js" ]]; then
        echo "frontend: WARNING: npm is missing; keeping $vendor as it is ($(head -n 1 "$stamp" 2>/dev/null || echo unknown))." >&2
        exit 0
    fi
    echo "frontend: npm is needed to fetch $wanted into $vendor (Debian: apt-get install npm)." >&2
    exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "frontend: installing $wanted into a temporary node_modules"
printf '{"name": "dispatch-frontend-vendor", "private": true}\n' >"$tmp/package.json"
(
    cd "$tmp"
    npm install --no-save --no-package-lock --ignore-scripts --no-audit --no-fund \
        --loglevel=error "echarts@$ECHARTS_VERSION" "maplibre-gl@$MAPLIBRE_VERSION" >/dev/null
)

check_version() {
    local got
    got="$(node -p "require('$tmp/node_modules/$1/package.json').version")"
    if [[ "$got" != "$2" ]]; then
        echo "frontend: npm installed $1@$got, not the pinned $2" >&2
        exit 1
    fi
}
check_version echarts "$ECHARTS_VERSION"
check_version maplibre-gl "$MAPLIBRE_VERSION"

mkdir -p "$vendor"
rm -f "$vendor"/*.mjs
cp "$tmp/node_modules/echarts/dist/echarts.esm.min.mjs" "$vendor/echarts.esm.min.js"
cp "$tmp/node_modules/echarts/LICENSE" "$vendor/LICENSE.echarts"
cp "$tmp/node_modules/maplibre-gl/dist/maplibre-gl.mjs" "$vendor/maplibre-gl.js"
cp "$tmp/node_modules/maplibre-gl/dist/maplibre-gl-worker.mjs" "$vendor/maplibre-gl-worker.js"
cp "$tmp/node_modules/maplibre-gl/dist/maplibre-gl.css" "$vendor/"
cp "$tmp/node_modules/maplibre-gl/LICENSE.txt" "$vendor/LICENSE.maplibre-gl"
# the bundles end with a sourceMappingURL comment naming maps we do not ship
for f in echarts.esm.min.js maplibre-gl.js maplibre-gl-worker.js; do
    sed -i -e 's|^//# sourceMappingURL=.*$||' "$vendor/$f"
done
{
    echo "$wanted"
    echo "# written by scripts/frontend.sh from the npm registry; do not edit"
} >"$stamp"
echo "frontend: $vendor now holds $wanted"
