"""Papermill support for Tessera's Swift notebooks.

`TesseraEngine` is registered as the papermill engine `tessera` (entry point group
`papermill.engine`); importing this package registers `SwiftTranslator` for the language
`swift`, so `papermill in.ipynb out.ipynb -p rows 8 --engine tessera` works.
"""

# Papermill loads the engine through its entry point while `papermill.engines` is being imported;
# importing papermill first keeps that from meeting this package half-initialized.
import papermill.engines  # noqa: F401

from .engine import TesseraEngine, find_tessera
from .translator import SwiftTranslator

__all__ = ["TesseraEngine", "SwiftTranslator", "find_tessera"]
