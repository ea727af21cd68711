"""Build the compiled word table of the hunt sieve.

The rest of the project is configured in pyproject.toml. The extension is
optional: without a C compiler, medisac installs and the hunt uses the
slower word table written in Python.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "medisac.hunt._wordtable",
            sources=["src/medisac/hunt/_wordtable.c"],
            optional=True,
        )
    ]
)
