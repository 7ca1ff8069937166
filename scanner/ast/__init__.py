"""Syntax-aware detection with tree-sitter: credentials in code, configs and notebooks.

Regex alone cannot tell ``password = "hunter2-Real"`` from
``password = os.environ["TWS_PASSWORD"]``. This package parses the files the keyword
prefilter flags and reads them through small per-language tables:

* ``languages``: file name -> syntax; grammar tables; lazy grammar loading.
* ``tree`` / ``lines``: bindings (name -> literal value) and the role of the bytes
  under a regex match, from a tree-sitter tree or from INI / ``.env`` / properties lines.
* ``names`` / ``values`` / ``ibkr``: which names hold credentials, which literal
  values are credible, which IBKR client calls take credentials or account ids.
* ``detector``: ``AstDetector.refine``, the one entry point ``scan.BlobScanner`` calls.
"""
from __future__ import annotations

from .detector import AstDetector

__all__ = ["AstDetector"]
