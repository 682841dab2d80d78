"""Package list for setuptools (the rest of the metadata is in pyproject.toml).

`grammar/dana.lark` sits at the top level of the repository, as DESIGN.md lays it out, and
is installed as the data-only package `dana_poet.grammar`; pyproject.toml alone cannot add a
mapped package to a `find` result.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["dana_poet*"]), "dana_poet.grammar"],
    package_dir={"dana_poet.grammar": "grammar"},
)
