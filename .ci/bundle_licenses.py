"""Append the licence of the OpenMP runtime a binary wheel bundles to LICENSE.

A Linux wheel carries GCC's libgomp (auditwheel copies it in), a macOS wheel
LLVM's libomp (delocate), a Windows wheel MSVC's vcomp140.dll (delvewheel).
Their licences must travel with them, and LICENSE is the file setuptools puts
into the wheel's ``.dist-info/licenses/``. cibuildwheel runs this script as
``before-all`` on the build machine (inside the container on Linux), so only
wheels get the extra text: the sdist and the repository keep the plain BSD
licence. ``.ci/wheel.sh`` runs it on a staged copy of the source tree.

Usage: python .ci/bundle_licenses.py LICENSE [linux|darwin|win32]
(the platform defaults to the one this interpreter runs on). Running it twice
appends the text once.
"""

import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
RUNTIME_LICENSE = {
    "linux": "libgomp.txt",
    "darwin": "libomp.txt",
    "win32": "vcomp140.txt",
}
MARKER = "This binary distribution of cyem also bundles the following software:"


def main(argv):
    if len(argv) not in (2, 3):
        sys.exit(__doc__)
    license_file = pathlib.Path(argv[1])
    platform = argv[2] if len(argv) == 3 else sys.platform
    if platform not in RUNTIME_LICENSE:
        sys.exit(f"bundle_licenses: no OpenMP runtime licence for platform {platform!r}")
    text = license_file.read_text(encoding="utf-8")
    if MARKER in text:
        print(f"bundle_licenses: {license_file} already has the bundled licences")
        return
    bundled = (HERE / "licenses" / RUNTIME_LICENSE[platform]).read_text(encoding="utf-8")
    with license_file.open("a", encoding="utf-8") as f:
        f.write(f"\n\n----\n\n{MARKER}\n\n----\n\n{bundled}")
    print(f"bundle_licenses: appended {RUNTIME_LICENSE[platform]} to {license_file}")


if __name__ == "__main__":
    main(sys.argv)
