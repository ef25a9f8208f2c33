"""`make check`'s dependency audit never reads as a pass when nothing was checked."""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "pip_audit.py"
spec = importlib.util.spec_from_file_location("pip_audit_script", SCRIPT)
pip_audit_script = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pip_audit_script)

NOT_FOUND = "Dependency not found on PyPI and could not be audited"


def _report(*deps):
    return {"dependencies": [{"name": "allot", "skip_reason": NOT_FOUND}, *deps], "fixes": []}


def _dep(name, *vulns, skipped=False):
    if skipped:
        return {"name": name, "skip_reason": f"{NOT_FOUND}: {name}"}
    return {"name": name, "version": "1.0", "vulns": list(vulns)}


@pytest.mark.parametrize("required", [False, True])
def test_an_audit_that_reached_no_service_says_not_run(required):
    lines, status = pip_audit_script.verdict(
        _report(_dep("django", skipped=True), _dep("celery", skipped=True)), required=required
    )

    assert lines[-1].startswith("dependency audit: NOT RUN")
    assert "0 of 2 packages checked" in lines[-1]
    assert "OK" not in " ".join(lines)
    assert status == (1 if required else 0)


def test_a_partial_audit_names_what_was_not_checked():
    lines, status = pip_audit_script.verdict(
        _report(_dep("django"), _dep("celery", skipped=True)), required=True
    )

    assert lines[-1] == (
        "dependency audit: INCOMPLETE, 1 of 2 packages checked; not checked: celery"
    )
    assert status == 1


def test_a_vulnerable_package_fails_the_audit():
    vuln = {"id": "PYSEC-2026-1", "fix_versions": ["5.2.99"]}
    lines, status = pip_audit_script.verdict(_report(_dep("django", vuln)), required=False)

    assert lines == [
        "django 1.0: PYSEC-2026-1 (fixed in 5.2.99)",
        "dependency audit: FAILED, 1 vulnerable of 1 packages checked",
    ]
    assert status == 1


def test_a_clean_audit_of_everything_is_ok_and_our_own_package_is_not_counted():
    lines, status = pip_audit_script.verdict(_report(_dep("django")), required=True)

    assert lines == ["dependency audit: OK, 1 packages checked, none vulnerable"]
    assert status == 0
