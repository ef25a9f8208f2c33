"""Run pip-audit over the installed environment and fail on any known vulnerability.

pip-audit asks PyPI's JSON API (or OSV) for advisories. On a machine that only reaches a package
mirror, those services are unreachable and pip-audit reports every package as "not found": that
is not a clean audit, so this script says so plainly. Set ALLOT_AUDIT_REQUIRED=1 (as a release
pipeline with internet access should) to make an audit that could not run a failure.
"""

import json
import os
import subprocess
import sys


def main() -> int:
    run = subprocess.run(  # noqa: S603 - fixed arguments, our own interpreter
        [sys.executable, "-m", "pip_audit", "--format", "json", "--progress-spinner", "off"],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        report = json.loads(run.stdout)
    except json.JSONDecodeError:
        print(run.stderr or run.stdout, file=sys.stderr)
        return 1
    dependencies = report.get("dependencies", [])
    vulnerable = [d for d in dependencies if d.get("vulns")]
    unaudited = [d for d in dependencies if d.get("skip_reason")]
    for dep in vulnerable:
        for vuln in dep["vulns"]:
            fixed = ", ".join(vuln.get("fix_versions", [])) or "no fix yet"
            print(f"{dep['name']} {dep['version']}: {vuln['id']} (fixed in {fixed})")
    audited = len(dependencies) - len(unaudited)
    print(
        f"pip-audit: {audited} packages audited, {len(vulnerable)} vulnerable, "
        f"{len(unaudited)} could not be checked"
    )
    if vulnerable:
        return 1
    if unaudited and audited == 0:
        print(
            "pip-audit could not reach an advisory service (PyPI JSON API or OSV) from this "
            "machine: NO AUDIT WAS DONE.",
            file=sys.stderr,
        )
        return 1 if os.environ.get("ALLOT_AUDIT_REQUIRED") == "1" else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
