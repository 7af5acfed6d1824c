#!/usr/bin/env bash
# Build the HTML documentation offline, with every Sphinx warning an error and
# every example executed. Installs nothing: it needs cyem importable (installed,
# or built in place and on PYTHONPATH) and docs/requirements.txt.
#
#   bash docs/build.sh              # -> docs/_build/html/index.html
#   PYTHON=/path/to/python bash docs/build.sh
#   bash docs/build.sh -E           # extra arguments go to sphinx (-E: rebuild all)
set -euo pipefail
# Run from docs/, not the repository root: "python -m" puts the current
# directory on sys.path, and the root's uncompiled cyem/ would shadow the
# installed package.
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
"$PYTHON" -c "import cyem, sphinx, numpydoc, sphinx_gallery, matplotlib" || {
    echo "docs/build.sh: cyem and the packages of docs/requirements.txt must be importable" >&2
    exit 1
}
exec "$PYTHON" -m sphinx -W --keep-going -b html "$@" . _build/html
