"""The ``skae`` command line (the ``skae`` console script is :func:`main`).

``main`` (parsing, dispatch, one-line errors), ``parser`` (the argparse parser, one
builder per command), ``options`` (each command's options, one frozen dataclass),
``common`` (errors, printing, loading a model), and one module per command: ``fit``,
``score``, ``export``, ``info``, ``demo``, each with ``run(options) -> int``.
"""

from .main import main
from .parser import build_parser

__all__ = ["build_parser", "main"]
