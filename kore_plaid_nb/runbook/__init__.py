"""The runbook: what each notebook cell does (:mod:`.steps`) and the headless runner
(:mod:`.runner`, nbclient). Nothing is imported here, so a notebook's first cell does not pay
for the runner's imports."""

import sys

# nbformat validates with jsonschema, which builds an RFC 3987 (IRI) grammar when it is
# importable: ~2.5 s of CPU at import, in the runner and its report. No notebook schema uses
# the "iri" formats it checks, so jsonschema runs without it here, as when it is not installed.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

HEADLESS_ENV = "KORE_PLAID_HEADLESS"  # set by `kore-plaid run`: nobody is at the keyboard
