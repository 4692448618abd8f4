# Sourced by ./plantao and ./test: make .venv in the checkout and install plantão into it,
# again only when pyproject.toml changes. Needs nothing but Python 3.11+.
set -eu
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
PYTHON=${PYTHON:-python3}
STAMP="$VENV/.plantao-installed"
extras=${PLANTAO_EXTRAS:-}
want=$(cat "$ROOT/pyproject.toml" | cksum | cut -d' ' -f1)-$extras
# one set-up at a time: ./test and ./plantao started together must not race on pip
exec 9>"$ROOT/.venv.lock"
flock 9 2>/dev/null || true
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || {
    echo "plantão needs Python 3.11 or newer (found: $("$PYTHON" --version 2>&1))" >&2; exit 1; }
  echo "setting up $VENV (first run only)..." >&2
  "$PYTHON" -m venv "$VENV"
fi
if [ "$(cat "$STAMP" 2>/dev/null || true)" != "$want" ]; then
  "$VENV/bin/python" -m pip install --quiet --upgrade pip >&2
  "$VENV/bin/python" -m pip install --quiet -e "$ROOT${extras:+[$extras]}" >&2
  echo "$want" > "$STAMP"
fi
exec 9>&-
