"""`make check`'s dependency audit: pip-audit over requirements.txt, and a clear verdict.

pip-audit needs the vulnerability service (the package index's JSON API, or api.osv.dev with
``--service osv``). Without it pip-audit prints "No known vulnerabilities found" and exits 0
while it audited nothing ("Dependency not found on PyPI" for every package). This wrapper
counts what was really audited and fails loudly:

    exit 0  every dependency audited, no known vulnerability
    exit 1  known vulnerabilities (listed)
    exit 2  the service could not be reached, or some dependencies could not be audited
            (0 instead when AUDIT_OFFLINE_OK=1: the verdict is still printed)

Usage: ``.venv/bin/python tools/audit_dependencies.py [requirements.txt] [pip-audit args...]``
"""

from __future__ import annotations

import json
import os
import subprocess  # nosec B404 - runs pip-audit from this venv
import sys
from pathlib import Path


def unaudited_status() -> int:
    if os.environ.get("AUDIT_OFFLINE_OK") == "1":
        print("AUDIT_OFFLINE_OK=1: not failing on that.")
        return 0
    return 2


def main(argv: list[str]) -> int:
    requirements = argv[0] if argv else "requirements.txt"
    pip_audit = Path(sys.executable).with_name("pip-audit")
    command = [str(pip_audit), "-r", requirements, "--format", "json", *argv[1:]]
    print("$", " ".join(command[:3] + command[5:]), flush=True)
    done = subprocess.run(command, capture_output=True, text=True)  # noqa: S603  # nosec B603 - pip-audit
    try:
        report = json.loads(done.stdout)
    except ValueError:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"pip-audit failed before auditing anything: {last}")
        print("NOT AUDITED: the vulnerability service (package index / api.osv.dev) is unreachable")
        print("from this machine. Run `make check` where it is reachable.")
        return unaudited_status()
    dependencies = report.get("dependencies", [])
    skipped = [d for d in dependencies if "skip_reason" in d]
    vulnerable = [d for d in dependencies if d.get("vulns")]
    audited = len(dependencies) - len(skipped)
    print(f"pip-audit: {audited} of {len(dependencies)} dependencies audited.")
    for dep in vulnerable:
        ids = ", ".join(
            v["id"] + (f" (fix: {v['fix_versions']})" if v.get("fix_versions") else "")
            for v in dep["vulns"]
        )
        print(f"VULNERABLE {dep['name']} {dep.get('version')}: {ids}")
    if vulnerable:
        return 1
    if skipped:
        print(
            f"NOT AUDITED: {len(skipped)} dependencies, e.g. {skipped[0]['name']}: "
            f"{skipped[0]['skip_reason']}"
        )
        print("The vulnerability service did not answer for them (no internet, or a package")
        print("index without its JSON API). Run `make check` where the package index is reachable.")
        return unaudited_status()
    print("No known vulnerabilities.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
