#!/usr/bin/env bash
# Refreshes requirements/constraints.txt, the exact versions every install takes (scripts/
# bootstrap.sh, so the demo, the tests and CI; the Dockerfile), then runs the whole test suite
# against them:
#   bash scripts/upgrade.sh                  # every package to the newest pyproject.toml allows
#   bash scripts/upgrade.sh aiohttp ruff     # only these; every other pin stays as it is
#   bash scripts/upgrade.sh --no-test ...    # refresh the file only
# The file is resolved from pyproject.toml's dependencies, its `import`, `embedded` and `test`
# extras and requirements/build.in (pip, setuptools), for CPython 3.11 on Linux x86_64, by uv in
# a throwaway virtualenv. Commit the file with the change that needed it, once the tests pass.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

UV_VERSION="0.13.8"  # the resolver; raise it by hand
out="requirements/constraints.txt"

test=1
packages=()
for arg in "$@"; do
    case "$arg" in
        --no-test) test=0 ;;
        -*) echo "usage: bash scripts/upgrade.sh [--no-test] [PACKAGE ...]" >&2; exit 2 ;;
        *) packages+=(--upgrade-package "$arg") ;;
    esac
done
((${#packages[@]})) || packages=(--upgrade)

tool="$(mktemp -d)"
trap 'rm -rf "$tool"' EXIT
cp "$out" "$tool/before.txt" 2>/dev/null || : >"$tool/before.txt"
python3 -m venv "$tool/venv"
"$tool/venv/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"

# uv keeps the pins of the existing file unless told to upgrade them; its own header is replaced
# by ours, which says what the file is for and how it was made.
"$tool/venv/bin/uv" pip compile --quiet --no-header --no-annotate \
    --python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
    --extra import --extra embedded --extra test "${packages[@]}" \
    --output-file "$out" pyproject.toml requirements/build.in
{
    echo "# The exact version of every package the project installs: pyproject.toml's dependencies,"
    echo "# its import, embedded and test extras, and requirements/build.in (pip, setuptools),"
    echo "# resolved for CPython 3.11 on Linux x86_64 (manylinux). Used as a constraints file"
    echo "# (pip install -c) by scripts/bootstrap.sh (the demo, the tests, CI) and by the Dockerfile."
    echo "# Made by scripts/upgrade.sh (uv $UV_VERSION pip compile); do not edit by hand."
    grep -v '^#' "$out"
} >"$tool/constraints.txt"
mv "$tool/constraints.txt" "$out"

if cmp -s "$tool/before.txt" "$out"; then
    echo "upgrade: $out is unchanged"
else
    echo "upgrade: $out changed:"
    diff --unchanged-line-format= --old-line-format='  - %L' --new-line-format='  + %L' \
        <(grep -v '^#' "$tool/before.txt") <(grep -v '^#' "$out") || true
fi
if ((test)); then
    bash scripts/test.sh
fi
