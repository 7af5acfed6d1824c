#!/usr/bin/env bash
# Check cyem's compiled code under AddressSanitizer + UndefinedBehaviorSanitizer
# (default), or under valgrind memcheck (`tools/sanitize.sh valgrind`).
#
# The extension is built in a temporary copy of the source tree -- the working
# tree and its in-place build are never touched -- and the kernel and estimator
# tests run against that build. See tools/README.md.
#
# Usage:
#   tools/sanitize.sh [asan] [PYTEST_ARGS...]   ASan+UBSan build, run the tests
#   tools/sanitize.sh valgrind                  -O1 -g build, memcheck a script
#
# Environment:
#   PYTHON     interpreter with numpy, Cython, setuptools, pytest, hypothesis,
#              scipy, scikit-learn (default: python3)
#   CC         C compiler, gcc >= 12 (default: gcc)
#   KEEP=1     keep the temporary build directory (its path is printed)
#   CYEM_SANITIZE_TESTS   test files to run (default: see TESTS below)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}
CC_BIN=${CC:-gcc}
MODE=asan
if [ "${1:-}" = "asan" ] || [ "${1:-}" = "valgrind" ]; then
    MODE=$1
    shift
fi
# Kernel and estimator tests, and the reliability tests; the slow ones are
# deselected below with -m "not slow".
TESTS=${CYEM_SANITIZE_TESTS:-"tests/test_kernels.py tests/test_mixture.py tests/test_degenerate.py tests/test_reliability.py tests/test_fuzz.py"}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/cyem-sanitize.XXXXXX")
if [ "${KEEP:-0}" = "1" ]; then
    echo "== keeping $WORK"
else
    trap 'rm -rf "$WORK"' EXIT
fi

# --- 1. a clean copy of the sources (no build products, no generated C) -------
mkdir -p "$WORK/src" "$WORK/bin"
tar -C "$ROOT" \
    --exclude=./.git --exclude=./build --exclude=./dist --exclude='./.venv*' \
    --exclude='*.so' --exclude='*.o' --exclude='./cyem/_*kernels.c' \
    --exclude='__pycache__' --exclude=.hypothesis --exclude='*.egg-info' \
    -cf - . | tar -C "$WORK/src" -xf -

# --- 2. compiler flags ---------------------------------------------------------
if [ "$MODE" = "asan" ]; then
    SAN_FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -O1 -g"
else
    SAN_FLAGS="-fno-omit-frame-pointer -O1 -g"
fi
export CFLAGS="$SAN_FLAGS"
export LDFLAGS="$SAN_FLAGS"
# setup.py puts its own -O3 after CFLAGS, and gcc obeys the last -O: a wrapper
# appends our flags after everything else so that -O1 -g (and the sanitizers)
# win. setuptools also uses $CC for the link step.
cat > "$WORK/bin/cc" <<EOF
#!/bin/sh
exec $CC_BIN "\$@" $SAN_FLAGS
EOF
chmod +x "$WORK/bin/cc"
export CC="$WORK/bin/cc"

echo "== building cyem ($MODE: $SAN_FLAGS) in $WORK/src"
(cd "$WORK/src" && "$PYTHON" setup.py build_ext --inplace > "$WORK/build.log" 2>&1) || {
    tail -40 "$WORK/build.log"
    echo "== build failed (full log: $WORK/build.log)"
    exit 1
}
grep -E "cyem: (building|OpenMP)" "$WORK/build.log" || true

export PYTHONPATH="$WORK/src"
export PYTHONDONTWRITEBYTECODE=1

# --- 3a. valgrind memcheck on a small script -----------------------------------
if [ "$MODE" = "valgrind" ]; then
    command -v valgrind > /dev/null || { echo "valgrind not found"; exit 1; }
    cat > "$WORK/memcheck_script.py" <<'EOF'
import warnings
import numpy as np
import cyem
from cyem import _kernels

warnings.simplefilter("ignore")
rng = np.random.default_rng(0)
x = np.concatenate([rng.normal(-3, 1, 3000), rng.normal(3, 1, 3001)])
for dtype in (np.float64, np.float32):
    xs = x.astype(dtype)
    for init in ("kmeans", "k-means++", "random", "random_from_data", "quantile"):
        for ctype in ("full", "tied"):
            m = cyem.GaussianMixture(3, init_params=init, covariance_type=ctype,
                                     random_state=0, max_iter=20).fit(xs)
            m.predict(xs); m.predict_proba(xs); m.score_samples(xs); m.sample(10)
    w = rng.uniform(0.1, 2.0, x.size)
    cyem.GaussianMixture(2, random_state=0).fit(xs, sample_weight=w)
    cyem.em(xs, [0.5, 0.5], [-1.0, 1.0], [1.0, 1.0], sample_weight=w, n_threads=2)
# degenerate inputs
cyem.GaussianMixture(1, reg_covar=0.0).fit(np.full(257, 3.0))
cyem.GaussianMixture(3, reg_covar=0.0).fit(np.repeat([1.0, 2.0, 5.0], 300))
cyem.GaussianMixture(7).fit(np.arange(7.0))
cyem.em(x, [0.5, 0.5], [0.0, 1e4], [1.0, 1.0])
for n in (1, 2, 255, 256, 257, 4095, 4096, 4097):   # tile/block edges
    xn = x[:n]
    cyem.GaussianMixture(1).fit(xn).predict_proba(xn)
print(_kernels.exp_nonpos(-np.linspace(0, 800, 1001)).sum(), _kernels.log_pos(np.linspace(1, 9, 9)).sum())
print("memcheck script done")
EOF
    echo "== valgrind memcheck"
    # OMP_NUM_THREADS=2: libgomp's thread stacks and its spin-waits are fine
    # under valgrind; more threads only slow it down.
    set +e
    OMP_NUM_THREADS=2 PYTHONMALLOC=malloc valgrind --tool=memcheck --error-exitcode=99 \
        --leak-check=no --track-origins=yes --num-callers=40 \
        --log-file="$WORK/valgrind.log" \
        "$PYTHON" "$WORK/memcheck_script.py"
    status=$?
    set -e
    grep "ERROR SUMMARY" "$WORK/valgrind.log"
    # CPython and the dynamic loader have known memcheck false positives
    # (os.urandom's getrandom buffer, ld.so's SSE strncmp): count only the
    # error records with a frame in cyem's extensions or headers.
    ours=$(awk -v FRAME='(at|by) 0x[0-9A-Fa-f]+: .*(cyem|_kernels|_mdkernels)' '
        /^==[0-9]+== [A-Z]/ && !/^==[0-9]+== (HEAP|For|ERROR|Memcheck|Copyright|Using|Command|Parent)/ {
            if (rec ~ FRAME) { n++; print rec > "/dev/stderr" }
            rec = ""
        }
        { rec = rec "\n" $0 }
        END { if (rec ~ FRAME) { n++; print rec > "/dev/stderr" }; print n + 0 }
    ' "$WORK/valgrind.log")
    echo "== memcheck: $ours error record(s) with a frame in cyem (full log: $WORK/valgrind.log)"
    if [ "$status" -ne 0 ] && [ "$status" -ne 99 ]; then
        echo "== the script failed (status $status)"; exit "$status"
    fi
    [ "$ours" -eq 0 ] || exit 99
    exit 0
fi

# --- 3b. the tests under ASan + UBSan -------------------------------------------
LIBASAN=$("$CC_BIN" -print-file-name=libasan.so)
[ -e "$LIBASAN" ] || { echo "libasan not found ($LIBASAN)"; exit 1; }
# Python is not built with ASan: the runtime must be loaded first.
export LD_PRELOAD="$LIBASAN"
# Reports go to files, printed at the end: pytest captures file descriptor 2,
# and a report printed just before the process halts would be lost with it.
# detect_leaks=0: CPython itself leaks at exit by design.
# allocator_may_return_null=1: an absurd allocation (a test asks for 8 PB on
# purpose) fails with NULL -> MemoryError, as with the system allocator,
# instead of ASan's "requested allocation size exceeds maximum" abort.
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0:allocator_may_return_null=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:log_path=$WORK/asan"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$WORK/ubsan"
# Route Python's own small allocations through malloc, so that ASan sees them.
export PYTHONMALLOC=malloc

cd "$WORK/src"     # (the current directory comes first on sys.path)
"$PYTHON" - "$WORK/src" <<'EOF'
import sys
import cyem._kernels as k
maps = open("/proc/self/maps").read()
assert "libasan" in maps, "ASan runtime is not loaded"
assert k.__file__.startswith(sys.argv[1]), f"not the sanitized build: {k.__file__}"
print("== testing", k.__file__)
print("   build:", k.build_info())
EOF

# shellcheck disable=SC2086
set +e
"$PYTHON" -m pytest $TESTS -q -p no:cacheprovider -o addopts="" -m "not slow" \
    --import-mode=importlib "$@"
status=$?
set -e
reports=$(ls "$WORK"/asan.* "$WORK"/ubsan.* 2> /dev/null || true)
if [ -n "$reports" ]; then
    echo "== sanitizer output:"
    for report in $reports; do echo "--- $report"; cat "$report"; done
fi
# Errors, as opposed to warnings such as "failed to allocate 0x... bytes"
# (the test that asks for 8 PB on purpose, answered with NULL):
if [ -n "$reports" ] && grep -lE "ERROR: (Address|Undefined|Leak)Sanitizer|runtime error:" $reports; then
    echo "== sanitizer ERRORS found"
    [ "$status" -ne 0 ] || status=1
else
    echo "== no sanitizer errors"
fi
echo "== pytest under ASan+UBSan exit status $status"
exit "$status"
