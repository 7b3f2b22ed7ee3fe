"""Check the pinned requirements against known advisories with pip-audit (PyPI advisory service).

Fails (exit 1) on any known vulnerability that has a fixed version. Packages the service could not
audit (it answers per-version queries with 404 on registry mirrors, and OSV may be unreachable)
are listed loudly; `--strict` turns that into a failure too.

Usage: python scripts/audit_requirements.py [--strict] [--report FILE.json] REQUIREMENTS...
Needs `pip-audit` on PATH (CI installs it into a separate tools venv).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys


def audit(requirements: list[str]) -> dict:
    tool = shutil.which("pip-audit")
    if tool is None:
        raise SystemExit("pip-audit is not installed")
    argv = [tool, "--no-deps", "--disable-pip", "--progress-spinner", "off", "-f", "json"]
    for path in requirements:
        argv += ["-r", path]
    completed = subprocess.run(argv, capture_output=True, text=True, check=False)
    try:
        return json.loads(completed.stdout)
    except json.JSONDecodeError:
        raise SystemExit(f"pip-audit failed (exit {completed.returncode}):\n{completed.stderr[-2000:]}")


def verdict(report: dict, strict: bool) -> tuple[int, list[str]]:
    """(exit code, lines to print) for a pip-audit JSON report."""
    lines, fixable, unaudited = [], 0, []
    for dep in report.get("dependencies", []):
        if "skip_reason" in dep:
            unaudited.append(dep["name"])
            continue
        for vuln in dep.get("vulns", []):
            fixes = vuln.get("fix_versions") or []
            tag = f"fix: {', '.join(fixes)}" if fixes else "no fix released"
            lines.append(f"VULNERABLE {dep['name']}=={dep.get('version')}: {vuln.get('id')} ({tag})")
            fixable += bool(fixes)
    total = len(report.get("dependencies", []))
    if unaudited:
        lines.append(f"WARNING: {len(unaudited)} of {total} pinned packages could not be audited "
                     f"(advisory service unreachable or version unknown to it): {', '.join(unaudited)}")
    lines.append(f"audited {total - len(unaudited)} of {total}; {fixable} vulnerability(ies) with a fix available")
    failed = fixable > 0 or (strict and bool(unaudited))
    return (1 if failed else 0), lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("requirements", nargs="+")
    parser.add_argument("--strict", action="store_true", help="also fail when a package cannot be audited")
    parser.add_argument("--report", help="write the raw pip-audit JSON here")
    args = parser.parse_args()
    report = audit(args.requirements)
    if args.report:
        with open(args.report, "w") as handle:
            json.dump(report, handle, indent=1)
    code, lines = verdict(report, args.strict)
    print("\n".join(lines))
    return code


if __name__ == "__main__":
    sys.exit(main())
