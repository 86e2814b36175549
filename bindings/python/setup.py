"""Build hooks for `pip install --no-build-isolation ./bindings/python`
(metadata in pyproject.toml).

At build time this
  - records the source tree the package was built from (inference/_source_tree.py),
    so that the installed package finds the library in that tree's build
    folder (build/, then the other build*/ folders), as it is rebuilt;
  - copies a shared library next to the package when asked: the library
    named by $INFERENCE_LIBRARY (a file or its folder) at install time, or
    with INFERENCE_BUNDLE=1 the source tree's build/libinference.so.  The
    installed package then loads that copy, and no longer depends on the
    source tree (INFERENCE_LIBRARY at run time still takes precedence).
"""
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))


def in_source_tree():
    return os.path.isfile(os.path.join(ROOT, "include", "inference.h"))


def sanitized(build_dir):
    try:
        with open(os.path.join(build_dir, "CMakeCache.txt"), errors="replace") as f:
            return any(l.startswith("INF_SANITIZE:") and l.rstrip().endswith("=ON") for l in f)
    except OSError:
        return False


def library_to_bundle():
    env = os.environ.get("INFERENCE_LIBRARY")
    if env:
        p = os.path.join(env, "libinference.so") if os.path.isdir(env) else env
        if not os.path.isfile(p):
            raise SystemExit(f"INFERENCE_LIBRARY={env}: no such library")
        return os.path.realpath(p)
    if os.environ.get("INFERENCE_BUNDLE") == "1" and in_source_tree():
        d = os.path.join(ROOT, "build")
        p = os.path.join(d, "libinference.so")
        if os.path.isfile(p) and not sanitized(d):
            return os.path.realpath(p)
        raise SystemExit(f"INFERENCE_BUNDLE=1: no {p} to bundle (build the library first)")
    return None


class BuildPy(build_py):
    def run(self):
        super().run()
        pkg = os.path.join(self.build_lib, "inference")
        with open(os.path.join(pkg, "_source_tree.py"), "w", encoding="utf-8") as f:
            f.write('"""Written by setup.py: the source tree this package was built from."""\n')
            f.write(f"SOURCE_TREE = {ROOT if in_source_tree() else None!r}\n")
        lib = library_to_bundle()
        if lib:
            shutil.copyfile(lib, os.path.join(pkg, "libinference.so.0.2"))
            print(f"bundling {lib} as inference/libinference.so.0.2")


class MaybeBinaryDistribution(Distribution):
    """A wheel that carries the shared library is a platform wheel."""

    def has_ext_modules(self):
        return library_to_bundle() is not None


setup(cmdclass={"build_py": BuildPy}, distclass=MaybeBinaryDistribution)
