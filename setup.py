"""Builds the parc Python package: `pip install --no-build-isolation .`

The extension parc._core is compiled from python/parc/*.c together with
libparc's own sources (src/, without MPI and without the test-only fault
switch), so nothing has to be installed first but hwloc's headers
(Debian: libhwloc-dev) and Python's (python3-dev). CMake builds the same
extension with -DPARC_PYTHON=ON (python/CMakeLists.txt)."""
import glob
import os
import subprocess

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def rel(*parts):
    return os.path.relpath(os.path.join(HERE, *parts), os.getcwd())


def pkg_config(*args):
    out = subprocess.run(["pkg-config", *args, "hwloc"], check=True,
                         capture_output=True, text=True).stdout
    return out.split()


libparc = sorted(
    p for p in glob.glob(rel("src", "**", "*.c"), recursive=True)
    if "/backend/mpi" not in p.replace(os.sep, "/")
    and not p.endswith("fault.c"))
binding = sorted(glob.glob(rel("python", "parc", "*.c")))
hwloc_cflags = pkg_config("--cflags")
hwloc_libs = pkg_config("--libs")

core = Extension(
    "parc._core",
    sources=binding + libparc,
    include_dirs=[rel("include"), rel("src")],
    define_macros=[("PARC_BUILDING", None), ("_GNU_SOURCE", None)],
    extra_compile_args=["-std=c11", "-fvisibility=hidden"] + hwloc_cflags,
    extra_link_args=hwloc_libs + ["-lpthread", "-lm"],
)

setup(package_dir={"": "python"}, packages=["parc"], ext_modules=[core])
