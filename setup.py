"""Package mapping: the top-level folders install as subpackages of ``statetrack``.

``automata/`` -> ``statetrack.automata``, ``constructions/`` -> ``statetrack.constructions``,
``lrnn/`` -> ``statetrack.lrnn``, ``kernels/`` -> ``statetrack.kernels``; nested packages
inside them are found automatically. Everything else lives in pyproject.toml.
"""
from setuptools import find_packages, setup

PARTS = ("automata", "constructions", "lrnn", "kernels")

packages = ["statetrack"] + [f"statetrack.{p}" for p in find_packages("statetrack")]
package_dir = {"statetrack": "statetrack"}
for part in PARTS:
    packages.append(f"statetrack.{part}")
    packages += [f"statetrack.{part}.{p}" for p in find_packages(part)]
    package_dir[f"statetrack.{part}"] = part

setup(packages=packages, package_dir=package_dir)
