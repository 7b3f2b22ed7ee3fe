"""The advisory gate in CI fails on fixable vulnerabilities and reports what it could not audit."""

import importlib.util
from pathlib import Path

spec = importlib.util.spec_from_file_location(
    "audit_requirements", Path(__file__).resolve().parents[1] / "scripts" / "audit_requirements.py")
audit_requirements = importlib.util.module_from_spec(spec)
spec.loader.exec_module(audit_requirements)


def test_fixable_vulnerability_fails():
    report = {"dependencies": [
        {"name": "mlflow", "version": "2.9.0", "vulns": [{"id": "PYSEC-2024-51", "fix_versions": ["2.10.0"]}]},
        {"name": "numpy", "version": "2.4.6", "vulns": []},
    ]}
    code, lines = audit_requirements.verdict(report, strict=False)
    assert code == 1
    assert any("mlflow==2.9.0" in line and "2.10.0" in line for line in lines)


def test_unfixed_vulnerability_is_reported_but_does_not_fail():
    report = {"dependencies": [{"name": "x", "version": "1", "vulns": [{"id": "GHSA-1", "fix_versions": []}]}]}
    code, lines = audit_requirements.verdict(report, strict=False)
    assert code == 0 and any("no fix released" in line for line in lines)


def test_unaudited_packages_are_listed_and_fail_only_in_strict_mode():
    report = {"dependencies": [{"name": "torch", "skip_reason": "Dependency not found on PyPI"}]}
    assert audit_requirements.verdict(report, strict=False)[0] == 0
    code, lines = audit_requirements.verdict(report, strict=True)
    assert code == 1 and any("could not be audited" in line and "torch" in line for line in lines)
