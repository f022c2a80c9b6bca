#!/usr/bin/env bash
# Creates .venv (Python >= 3.11) and installs the project with one extra into it:
#   bash scripts/bootstrap.sh embedded   # what `dispatch demo` needs
#   bash scripts/bootstrap.sh test       # that, plus the test and lint tools
# Every install takes the exact versions of requirements/constraints.txt (pip, setuptools and
# every dependency; scripts/upgrade.sh refreshes it). Installs again only when pyproject.toml or
# the constraints differ from those of the last install of that extra (their digest is its stamp).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

extra="${1:-}"
case "$extra" in
    embedded | test) ;;
    *) echo "usage: bash scripts/bootstrap.sh embedded|test" >&2; exit 2 ;;
esac

bash scripts/frontend.sh  # pinned map and chart libraries in frontend/vendor; skips when current
constraints="requirements/constraints.txt"
stamp=".venv/.installed-$extra"
wanted="$(cat pyproject.toml "$constraints" | sha256sum | cut -d ' ' -f 1)"
installed() { [[ -f "$1" && "$(cat "$1")" == "$wanted" ]]; }
# the test extra includes the embedded one
if [[ -x .venv/bin/python ]] &&
    { installed "$stamp" || { [[ "$extra" == embedded ]] && installed .venv/.installed-test; }; }; then
    exit 0
fi

recent_enough() {
    "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null
}

if [[ -x .venv/bin/python ]] && ! recent_enough .venv/bin/python; then
    echo "bootstrap: .venv has $(.venv/bin/python --version 2>&1); the project needs Python 3.11 or newer." >&2
    echo "bootstrap: remove it (rm -rf .venv) and run this again." >&2
    exit 1
fi

if [[ ! -x .venv/bin/python ]]; then
    python=""
    for candidate in python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null && recent_enough "$candidate"; then
            python="$(command -v "$candidate")"
            break
        fi
    done
    if [[ -z "$python" ]]; then
        found="$(command -v python3 >/dev/null && python3 --version 2>&1 || echo 'no python3')"
        echo "bootstrap: the project needs Python 3.11 or newer; found: $found." >&2
        echo "bootstrap: install one (e.g. apt-get install python3, or from python.org) and run this again." >&2
        exit 1
    fi
    version="$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"

    # Debian and Ubuntu ship venv's pip bootstrapper (ensurepip) in a package of its own.
    if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
        package="python$version-venv"
        if ! command -v apt-get >/dev/null; then
            echo "bootstrap: $python cannot create virtual environments (no ensurepip); install its venv module." >&2
            exit 1
        elif [[ "$(id -u)" == 0 ]]; then
            echo "bootstrap: installing $package ..."
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" ||
                DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
        else
            echo "bootstrap: $python cannot create virtual environments; run:" >&2
            echo "    sudo apt-get update && sudo apt-get install -y $package" >&2
            exit 1
        fi
    fi

    echo "bootstrap: creating .venv with $python ($version)"
    rm -rf .venv  # a broken one, without a python
    "$python" -m venv .venv
fi

echo "bootstrap: installing the project with [$extra] into .venv, as pinned in $constraints"
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check --constraint "$constraints")
# the pinned installer and build backend first; the project is then built with that setuptools
"${pip[@]}" pip setuptools
"${pip[@]}" --no-build-isolation --editable ".[$extra]"
echo "$wanted" >"$stamp"
