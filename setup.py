"""The build step pyproject.toml cannot say: put the project's data inside the package.

ontology/, graph/ and shapes/ stay at the root of the repository, the one place they are edited.
Building a wheel copies them into the package as lec_kg/data/<folder>/, so an installed package
serves the full graph wherever it is installed (`lec_kg.config.default_source_dir` finds them
through importlib.resources). An editable install copies nothing and reads the working tree.
MANIFEST.in puts the same folders into the sdist, so a wheel built from the sdist has them too.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
PACKAGE = "lec_kg"
DATA = "data"  # lec_kg.config.PACKAGED_SOURCE
SHIPPED = {"ontology": ["*.ttl"], "graph": ["*.ttl", "README.md"], "shapes": ["*.ttl"]}


class build_py_with_data(build_py):
    """build_py, then the data folders copied into <build_lib>/lec_kg/data/."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads ontology/, graph/ and shapes/ where they are
        for folder, patterns in SHIPPED.items():
            found = sorted({p for pattern in patterns for p in (ROOT / folder).glob(pattern)})
            if not any(p.suffix == ".ttl" for p in found):
                raise SystemExit(f"setup.py: {ROOT / folder} holds no .ttl file to ship")
            target = Path(self.build_lib) / PACKAGE / DATA / folder
            self.mkpath(str(target))
            for path in found:
                self.copy_file(str(path), str(target / path.name))


setup(cmdclass={"build_py": build_py_with_data})
