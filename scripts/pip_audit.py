"""Run pip-audit over the installed environment and fail on any known vulnerability.

pip-audit asks PyPI's JSON API (or OSV) for advisories. On a machine that only reaches a package
mirror, those services are unreachable and pip-audit reports every package as "not found": that
is not a clean audit, and this script never lets it look like one. Its last line is one of:

    dependency audit: OK, N packages checked, none vulnerable
    dependency audit: FAILED, N vulnerable ...
    dependency audit: NOT RUN, no advisory service reachable; 0 of N packages checked
    dependency audit: INCOMPLETE, M of N packages checked; not checked: ...

NOT RUN and INCOMPLETE exit 0 (so a machine without the internet can still run `make check`)
unless ALLOT_AUDIT_REQUIRED=1, which a release pipeline with internet access should set.
"""

import json
import os
import subprocess
import sys

OUR_OWN = {"allot"}  # this project: never on PyPI, nothing to look up


def verdict(report: dict, *, required: bool) -> tuple[list[str], int]:
    """The lines to print for a pip-audit JSON report, and the exit status."""
    dependencies = [d for d in report.get("dependencies", []) if d["name"] not in OUR_OWN]
    vulnerable = [d for d in dependencies if d.get("vulns")]
    unchecked = [d["name"] for d in dependencies if d.get("skip_reason")]
    checked = len(dependencies) - len(unchecked)
    lines = [
        f"{dep['name']} {dep['version']}: {vuln['id']} "
        f"(fixed in {', '.join(vuln.get('fix_versions', [])) or 'no fix yet'})"
        for dep in vulnerable
        for vuln in dep["vulns"]
    ]
    if vulnerable:
        lines.append(
            f"dependency audit: FAILED, {len(vulnerable)} vulnerable of {checked} packages checked"
        )
        return lines, 1
    if checked == 0:
        lines.append(
            "dependency audit: NOT RUN, no advisory service (PyPI JSON API or OSV) reachable "
            f"from this machine; 0 of {len(dependencies)} packages checked. NO AUDIT WAS DONE."
        )
        return lines, 1 if required else 0
    if unchecked:
        lines.append(
            f"dependency audit: INCOMPLETE, {checked} of {len(dependencies)} packages checked; "
            f"not checked: {', '.join(sorted(unchecked))}"
        )
        return lines, 1 if required else 0
    lines.append(f"dependency audit: OK, {checked} packages checked, none vulnerable")
    return lines, 0


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
        print("dependency audit: NOT RUN, pip-audit gave no report (above)")
        return 1
    lines, status = verdict(report, required=os.environ.get("ALLOT_AUDIT_REQUIRED") == "1")
    print("\n".join(lines))
    return status


if __name__ == "__main__":
    sys.exit(main())
