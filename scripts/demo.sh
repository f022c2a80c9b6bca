#!/usr/bin/env bash
# Runs the embedded demo: private PostgreSQL and Redis, the demo city, the server and a live
# incident simulator. Arguments go to `dispatch demo`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/bootstrap.sh embedded
exec .venv/bin/dispatch demo "$@"
