#!/usr/bin/env bash
# The project's checks: ruff, mypy and pytest. Arguments go to pytest, e.g.
#   bash scripts/test.sh tests/unit -x
# Exits non-zero when any check fails (pytest collecting no test counts as a failure).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/bootstrap.sh test

# The browser tests drive a real headless Chromium, installed from the system's packages,
# with CJK fonts so that the screenshots show Chinese rather than empty boxes. The tests' Redis
# is the system's redis-server (Debian's, kept up to date with security fixes; docs/DEPLOY.md).
need=()
if ! command -v redis-server >/dev/null; then
    need+=(redis-server)
fi
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
    need+=(chromium)
fi
if command -v fc-list >/dev/null && ! fc-list :lang=zh 2>/dev/null | grep -q .; then
    need+=(fonts-noto-cjk)
elif ! command -v fc-list >/dev/null; then
    need+=(fonts-noto-cjk)
fi
if ((${#need[@]})); then
    install=(apt-get install -y -qq --no-install-recommends "${need[@]}")
    if ! command -v apt-get >/dev/null; then
        sudo=none
    elif [[ "$(id -u)" == 0 ]]; then
        sudo=""
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        sudo="sudo"
    else
        sudo=none
    fi
    if [[ "$sudo" != none ]]; then
        echo "test: installing ${need[*]} for the tests ..."
        $sudo apt-get update -qq || true
        $sudo env DEBIAN_FRONTEND=noninteractive "${install[@]}" ||
            echo "test: WARNING: could not install ${need[*]}" >&2
    fi
    if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
        echo "test: WARNING: no Chromium, and it cannot be installed here: the browser tests" \
            "will be skipped. Install it (Debian/Ubuntu: apt-get install chromium) to run them." >&2
        export DISPATCH_NO_BROWSER=1
    fi
fi

failed=()
.venv/bin/ruff check . || failed+=("ruff")
.venv/bin/mypy || failed+=("mypy")
.venv/bin/pytest -q -p no:cacheprovider "$@" || failed+=("pytest (exit $?)")

if ((${#failed[@]})); then
    echo "test: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "test: all checks passed"
