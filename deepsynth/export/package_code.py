"""The code an imported package carries must be exactly the code `deepsynth export` writes.

A package's README tells its receiver to `pip install -r requirements.txt` and `python
inference.py`; `inference.py` runs the DeepSynth source vendored in `deepsynth_src/`. All of it is
text a sender can edit (the manifest's hashes are the sender's too), so an import compares it with
what this DeepSynth's export writes for the version the manifest names, before anything is written:
- `inference.py` equals the generated script (`inference_script()`, or `vlm_inference_script()`
  for a vision-language adapter, which carries no `deepsynth_src/`);
- every file under `deepsynth_src/deepsynth/` equals this installation's file of that name
  (`package.vendored_source_files`); a file this DeepSynth does not have is refused;
- no other Python file anywhere in the package;
- requirements files hold only comments, `NAME==VERSION` pins (or a bare name the exporter had not
  installed) and PyTorch's own
  `--extra-index-url` line: no URLs, VCS links, other indexes or `-r`/`-e` lines that pip would follow.
A package that carries code but was written by another DeepSynth version cannot be checked here and
is refused with what to do; one without code (the adapter files only) needs no version.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Mapping

from deepsynth.errors import PackageRefused

SCRIPT = "inference.py"
REQUIREMENTS_FILES = ("requirements.txt", "requirements-assets.txt")
_PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?(==[A-Za-z0-9.+!_-]+)?$")
_TORCH_INDEX = re.compile(r"^--extra-index-url https://download\.pytorch\.org/whl/[a-z0-9]+$")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def expected_code(card: Mapping[str, Any] | None) -> dict[str, str]:
    """Package path -> sha256 of each code file this DeepSynth's export writes for `card`."""
    from deepsynth.export.package import is_vlm_card, vendored_source_files

    if isinstance(card, Mapping) and is_vlm_card(card):
        from deepsynth.export.vlm_inference_script import vlm_inference_script

        return {SCRIPT: _sha256(vlm_inference_script().encode("utf-8"))}
    from deepsynth.export.inference_script import inference_script

    expected = {SCRIPT: _sha256(inference_script().encode("utf-8"))}
    expected.update({name: _sha256(path.read_bytes()) for name, path in vendored_source_files().items()})
    return expected


def is_code(name: str) -> bool:
    """Whether a package path is code the receiver runs (the script, the vendored source, any .py)."""
    from deepsynth.export.package import VENDORED_SOURCE

    return name == SCRIPT or name.startswith(f"{VENDORED_SOURCE}/") or name.endswith(".py")


def requirement_problems(name: str, text: str) -> list[str]:
    """Lines of a requirements file that would make pip fetch or run something other than a pin."""
    problems = []
    for number, line in enumerate(text.splitlines(), start=1):
        body = line.split(" #", 1)[0].strip() if not line.lstrip().startswith("#") else ""
        if body and not (_PIN.match(body) or _TORCH_INDEX.match(body)):
            problems.append(f"{name}, line {number}: {body[:80]!r} is not a NAME==VERSION pin (DeepSynth's export "
                            "writes only pins and PyTorch's index)")
    return problems


def check_package_code(digests: Mapping[str, str], texts: Mapping[str, Any], manifest: Mapping[str, Any],
                       card: Mapping[str, Any] | None) -> None:
    """Refuse (`PackageRefused`, every problem) code that differs from what `export` writes;
    `digests`: package path -> sha256 of every file; `texts`: the decoded text files."""
    import deepsynth

    problems = []
    for name in REQUIREMENTS_FILES:
        if isinstance(texts.get(name), str):
            problems += requirement_problems(name, texts[name])
    code = sorted(name for name in digests if is_code(name))
    if code:
        version = manifest.get("deepsynth_version")
        if version != deepsynth.__version__:
            problems.append(f"the package carries code ({', '.join(code[:3])}{' ...' if len(code) > 3 else ''}) "
                            f"written by DeepSynth {version!r}; this is DeepSynth {deepsynth.__version__}, which "
                            "can check only the code its own export writes: ask the sender to export with "
                            f"DeepSynth {deepsynth.__version__}")
        else:
            expected = expected_code(card)
            for name in code:
                if name not in expected:
                    problems.append(f"{name}: code that DeepSynth {version}'s export never writes")
                elif digests[name] != expected[name]:
                    problems.append(f"{name}: differs from what DeepSynth {version}'s export writes (it was "
                                    "changed; it would run when you follow the package's README)")
    if problems:
        raise PackageRefused("the package's code or requirements are not what `deepsynth export` writes:\n"
                             + "\n".join(f"  - {problem}" for problem in problems[:20])
                             + (f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""))
