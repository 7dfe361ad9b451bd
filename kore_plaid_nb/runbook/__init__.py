"""The runbook: what each notebook cell does (:mod:`.steps`) and the headless runner
(:mod:`.runner`, nbclient). Nothing is imported here, so a notebook's first cell does not pay
for the runner's imports (nbformat's schema validator alone takes ~1.5 s)."""

HEADLESS_ENV = "KORE_PLAID_HEADLESS"  # set by `kore-plaid run`: nobody is at the keyboard
