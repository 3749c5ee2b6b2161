"""Puts the Clojure sources and the bundled model files into the wheel.

In a checkout they sit beside the package (``jvm/src``, ``edn_models``); an installed
wheel has no checkout, so the build copies them to ``bridge/jvm_src`` and
``bridge/models``, where :mod:`bridge.jvm.classpath` and :mod:`bridge.cli` look next.
Everything else is in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
BUNDLED = {"jvm/src": "bridge/jvm_src", "edn_models": "bridge/models"}


class BuildWithBundledFiles(build_py):
    def run(self):
        super().run()
        for source, target in BUNDLED.items():
            destination = Path(self.build_lib) / target
            if destination.exists():
                shutil.rmtree(destination)
            shutil.copytree(ROOT / source, destination,
                            ignore=shutil.ignore_patterns("*.class", ".*"))


setup(cmdclass={"build_py": BuildWithBundledFiles})
