#!/usr/bin/env bash
# Puts the pinned map and chart libraries into frontend/vendor/ (the pages import them from
# there; the project's own JavaScript needs no build step):
#   echarts      dist/echarts.esm.min.mjs                          -> echarts.esm.min.js
#   maplibre-gl  dist/maplibre-gl.mjs, dist/maplibre-gl-worker.mjs -> maplibre-gl.js, ...-worker.js
#                dist/maplibre-gl.css
#   swagger-ui-dist  swagger-ui-bundle.js, swagger-ui.css      -> the API reference (/api/docs)
# (renamed to .js so that every static server, whatever its MIME table, sends them as
# JavaScript, which module scripts and module workers require; the pages call
# maplibregl.setWorkerUrl with the renamed worker)
# and, in vendor/LICENSES/, the licence and notice files of every package npm installs for them
# (the bundles carry zrender and tslib inside ECharts, and MapLibre's dependencies inside it),
# with LICENSES/INDEX naming each package, its version and licence (NOTICE at the root cites it).
# frontend/vendor/ is committed, so a fresh clone works offline; this script rebuilds it from
# the npm registry when its VERSIONS stamp differs from the pins below (or with --force).
# It installs into a temporary node_modules and copies only the dist files and the licences.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ECHARTS_VERSION="6.1.0"
MAPLIBRE_VERSION="6.17.0"
SWAGGER_UI_VERSION="5.35.0"

vendor="frontend/vendor"
stamp="$vendor/VERSIONS"
wanted="echarts@$ECHARTS_VERSION maplibre-gl@$MAPLIBRE_VERSION swagger-ui-dist@$SWAGGER_UI_VERSION"
files=(echarts.esm.min.js maplibre-gl.js maplibre-gl-worker.js maplibre-gl.css LICENSES/INDEX
    LICENSES/echarts/LICENSE LICENSES/echarts/NOTICE LICENSES/maplibre-gl/LICENSE.txt
    swagger-ui-bundle.js swagger-ui.css LICENSES/swagger-ui-dist/LICENSE)

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
        --loglevel=error "echarts@$ECHARTS_VERSION" "maplibre-gl@$MAPLIBRE_VERSION" \
        "swagger-ui-dist@$SWAGGER_UI_VERSION" >/dev/null
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
check_version swagger-ui-dist "$SWAGGER_UI_VERSION"

mkdir -p "$vendor"
rm -f "$vendor"/*.mjs
cp "$tmp/node_modules/echarts/dist/echarts.esm.min.mjs" "$vendor/echarts.esm.min.js"
cp "$tmp/node_modules/maplibre-gl/dist/maplibre-gl.mjs" "$vendor/maplibre-gl.js"
cp "$tmp/node_modules/maplibre-gl/dist/maplibre-gl-worker.mjs" "$vendor/maplibre-gl-worker.js"
cp "$tmp/node_modules/maplibre-gl/dist/maplibre-gl.css" "$vendor/"
cp "$tmp/node_modules/swagger-ui-dist/swagger-ui-bundle.js" "$vendor/"
cp "$tmp/node_modules/swagger-ui-dist/swagger-ui.css" "$vendor/"
# the bundles end with a sourceMappingURL comment naming maps we do not ship
for f in echarts.esm.min.js maplibre-gl.js maplibre-gl-worker.js swagger-ui-bundle.js swagger-ui.css; do
    sed -i -e 's|^//# sourceMappingURL=.*$||' -e 's|/\*# sourceMappingURL=.*\*/||' "$vendor/$f"
done
rm -rf "$vendor/LICENSES" "$vendor"/LICENSE.*
mkdir -p "$vendor/LICENSES"
# Every package but type declarations: its LICENSE/LICENCE/COPYING/NOTICE files (and ECharts'
# licenses/ folder of the code it embeds) into LICENSES/<package>/, and a line of INDEX.
node - "$tmp/node_modules" "$vendor/LICENSES" "$wanted" <<'JS'
const fs = require("fs");
const path = require("path");
const [modules, out, wanted] = process.argv.slice(2);
const names = [];
for (const entry of fs.readdirSync(modules).sort()) {
    if (entry.startsWith(".")) continue;
    if (entry.startsWith("@")) {
        if (entry === "@types") continue;
        for (const sub of fs.readdirSync(path.join(modules, entry)).sort()) names.push(`${entry}/${sub}`);
    } else {
        names.push(entry);
    }
}
const lines = [
    `# ${wanted}: the npm packages installed for them, whose code the files of`,
    "# frontend/vendor/ bundle (each library with what it depends on), with the licence each",
    "# declares and the licence and notice files copied from it into this folder.",
    "# Written by scripts/frontend.sh; do not edit.",
    "# package\tversion\tlicence\tfiles",
];
for (const name of names) {
    const dir = path.join(modules, name);
    const meta = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
    const copied = [];
    const copy = (from, rel) => {
        fs.mkdirSync(path.dirname(path.join(out, name, rel)), { recursive: true });
        fs.copyFileSync(from, path.join(out, name, rel));
        copied.push(`${name}/${rel}`);
    };
    for (const file of fs.readdirSync(dir).sort()) {
        if (/^(licen[cs]e|copying|notice)/i.test(file) && fs.statSync(path.join(dir, file)).isFile()) {
            copy(path.join(dir, file), file);
        }
    }
    const embedded = path.join(dir, "licenses");
    if (fs.existsSync(embedded) && fs.statSync(embedded).isDirectory()) {
        for (const file of fs.readdirSync(embedded).sort()) copy(path.join(embedded, file), `licenses/${file}`);
    }
    const licence = typeof meta.license === "string" ? meta.license : JSON.stringify(meta.license);
    lines.push([name, meta.version, licence, copied.join(" ") || "(none shipped)"].join("\t"));
}
fs.writeFileSync(path.join(out, "INDEX"), lines.join("\n") + "\n");
JS
# the notices of what the Swagger UI bundle carries inside it (written by its build)
cp "$tmp/node_modules/swagger-ui-dist/swagger-ui-bundle.js.LICENSE.txt" "$vendor/LICENSES/swagger-ui-dist/"
{
    echo "$wanted"
    echo "# written by scripts/frontend.sh from the npm registry; do not edit"
} >"$stamp"
echo "frontend: $vendor now holds $wanted"
