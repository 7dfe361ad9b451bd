"""Loaded by ``make test`` with ``-p tests.early_plugin``, before the plugins installed with
the packages (nbval imports nbformat, which imports jsonschema): jsonschema then builds no
RFC 3987 grammar (~2 s of CPU in each pytest process). Why that is safe: conftest.py."""

import sys

sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
