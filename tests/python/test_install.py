"""`pip install --no-build-isolation ./bindings/python` works offline with the
setuptools at hand (Debian's python3-setuptools), and the installed package
finds the library: bundled next to it, or in the build folder of the source
tree it was installed from.  Installs into a temporary --target from a copy
of the package, so the source tree is left as it was."""
import os
import shutil
import subprocess
import sys

import pytest

import inference
from conftest import MODEL, SOURCE_DIR

LIB = inference.library_path


def pip_install(src, target, **env):
    if subprocess.run([sys.executable, "-m", "pip", "--version"], stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL).returncode != 0:
        pytest.skip("no pip for this python (apt-get install python3-pip)")
    try:
        import setuptools
        import wheel  # noqa: F401  (setuptools < 70.1 builds wheels with it)
    except ImportError:
        pytest.skip("no setuptools or wheel for this python (apt-get install "
                    "python3-setuptools python3-wheel)")
    if int(setuptools.__version__.split(".")[0]) < 61:
        pytest.skip(f"setuptools {setuptools.__version__} is older than 61")
    e = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", **env)
    e.pop("INFERENCE_LIBRARY", None)
    e.update(env)
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-build-isolation",
                        "--no-index", "--no-deps", "--target", target, src],
                       env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=240)
    assert r.returncode == 0, r.stdout


def use_installed(target):
    """A fresh interpreter that imports the installed package only."""
    e = dict(os.environ, PYTHONPATH=target)
    e.pop("INFERENCE_LIBRARY", None)
    code = ("import inference, sys; assert inference.__file__.startswith(sys.argv[1]); "
            f"m = inference.load({MODEL!r}); print(inference.library_path); "
            "print(m.generate('The jury said', max_tokens=3).read())")
    r = subprocess.run([sys.executable, "-c", code, target], env=e, cwd="/",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def copy_package(dst):
    shutil.copytree(os.path.join(SOURCE_DIR, "bindings", "python"), dst,
                    ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))


def test_pip_install_bundling_the_library(tmp_path):
    src, site = str(tmp_path / "pkg"), str(tmp_path / "site")
    copy_package(src)
    pip_install(src, site, INFERENCE_LIBRARY=LIB)
    assert os.path.isfile(os.path.join(site, "inference", "libinference.so.0.2"))
    assert os.path.isfile(os.path.join(site, "inference", "py.typed"))
    path, text = use_installed(site)
    assert path == os.path.join(site, "inference", "libinference.so.0.2")
    assert text == "he was a"


def test_pip_install_finds_the_source_trees_build(tmp_path):
    # A stand-in source tree: include/inference.h, bindings/python, and a
    # build/ folder whose library is the one under test.
    root = tmp_path / "tree"
    (root / "include").mkdir(parents=True)
    (root / "include" / "inference.h").write_text("/* stand-in */\n")
    (root / "build").mkdir()
    os.symlink(LIB, root / "build" / "libinference.so")
    copy_package(str(root / "bindings" / "python"))
    site = str(tmp_path / "site")
    pip_install(str(root / "bindings" / "python"), site)
    assert not os.path.exists(os.path.join(site, "inference", "libinference.so.0.2"))
    path, text = use_installed(site)
    assert path == os.path.realpath(LIB) and text == "he was a"
