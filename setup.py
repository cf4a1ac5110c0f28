"""Build step: ship the repository's top-level data folders inside the wheel.

``conf/`` (Hydra configs), ``tasks/`` (lm-eval task template) and ``results/reference/``
(the papers' reported tables) stay at the top of the repository, where users see them. A wheel
can only install packages, so ``build_py`` copies them into ``drp_bench/_data/``;
``drp_bench/resources.py`` reads them there when drp-bench runs from an installed wheel, and
from the checkout otherwise. Everything else is configured in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
#: Repository folders copied, with the same relative path, under drp_bench/_data/.
DATA_DIRS = ("conf", "tasks", "results/reference", "results/schema")


class BuildPyWithData(build_py):
    def run(self):
        super().run()
        if self.editable_mode:  # an editable install reads the checkout's folders directly
            return
        target = Path(self.build_lib) / "drp_bench" / "_data"
        shutil.rmtree(target, ignore_errors=True)  # no stale files left from an earlier build
        for name in DATA_DIRS:
            shutil.copytree(
                ROOT / name, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )


setup(cmdclass={"build_py": BuildPyWithData})
