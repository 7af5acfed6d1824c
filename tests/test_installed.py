"""Facts about the cyem that is imported: installed, configured, versioned.

CI sets ``CYEM_EXPECT_INSTALLED=1`` when it runs the suite against an installed
wheel (``.ci/wheel.sh``, cibuildwheel's test command), so that a test run that
silently imported a source tree instead fails. ``CYEM_EXPECT_OPENMP=1`` makes
a build without OpenMP fail too.
"""

import glob
import importlib.metadata
import io
import os

import pytest

import cyem
from cyem import _kernels

EXPECT_INSTALLED = os.environ.get("CYEM_EXPECT_INSTALLED") == "1"
EXPECT_OPENMP = os.environ.get("CYEM_EXPECT_OPENMP") == "1"


@pytest.mark.skipif(not EXPECT_INSTALLED, reason="set CYEM_EXPECT_INSTALLED=1 to check")
def test_imported_cyem_is_the_installed_one():
    assert "site-packages" in cyem.__file__
    assert "site-packages" in _kernels.__file__


def test_show_config_reports_openmp_and_simd_path():
    out = io.StringIO()
    cyem.show_config(file=out)
    text = out.getvalue()
    config = cyem._config.config()
    assert f"cyem {cyem.__version__}" in text
    assert "OpenMP" in text
    assert "SIMD path" in text
    assert config["simd_path"] and config["simd_path"] in text
    if EXPECT_OPENMP:
        assert config["openmp"], text
        assert "OpenMP         : yes" in text


def test_version_is_the_installed_distribution_version():
    try:
        installed = importlib.metadata.version("cyem")
    except importlib.metadata.PackageNotFoundError:
        if EXPECT_INSTALLED:
            raise
        pytest.skip("cyem is not installed (running from a build tree)")
    assert cyem.__version__ == installed


def _bundled_openmp_runtimes():
    """OpenMP runtimes a repaired wheel carries next to the package, if any.

    auditwheel and delvewheel put them in ``cyem.libs/``, delocate in
    ``cyem/.dylibs/``; a build from source has none (it uses the system's).
    """
    package_dir = os.path.dirname(os.path.abspath(cyem.__file__))
    site_dir = os.path.dirname(package_dir)
    candidates = glob.glob(os.path.join(site_dir, "cyem.libs", "*")) + glob.glob(
        os.path.join(package_dir, ".dylibs", "*")
    )
    names = ("libgomp", "libomp", "libiomp", "vcomp")
    return [p for p in candidates if os.path.basename(p).lower().startswith(names)]


def test_bundled_openmp_runtime_is_the_one_in_use():
    bundled = _bundled_openmp_runtimes()
    if not bundled:
        pytest.skip("no OpenMP runtime bundled next to cyem (not a repaired wheel)")
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from threadpoolctl import threadpool_info, threadpool_limits

    in_use = [
        os.path.realpath(info["filepath"])
        for info in threadpool_info()
        if info["user_api"] == "openmp"
    ]
    bundled_real = {os.path.realpath(p) for p in bundled}
    assert bundled_real & set(in_use), (bundled, in_use, threadpoolctl.__version__)
    # and the runtime obeys a limit set through threadpoolctl
    with threadpool_limits(limits=1, user_api="openmp"):
        assert _kernels.build_info()["omp_max_threads"] == 1
