"""Where LoRA lands on each tiny VLM family for the targets a user types, as a Markdown table.

    PYTHONPATH=. python bench/vlm_targets.py [--out docs/results/vlm-targets.md]

Per family: LoRA modules in the language model / the vision tower / the projector, and whether the
tower's features are cached, for `q_proj,v_proj`, the kind's default (no targets), and
`q_proj,<tower path>.<leaf>` (the tower named by path). Tiny random models (models/vlm/tiny.py):
module names and counts are what a full-size model of the family has per layer.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path


def _under(name: str, root: str) -> bool:
    return name.startswith(root + ".")


def where(model, facts) -> dict[str, int]:
    counts = {"language model": 0, "tower": 0, "projector": 0, "elsewhere": 0}
    for name, module in model.decoder.named_modules():
        if not (hasattr(module, "lora_A") and len(module.lora_A)):
            continue
        name = name.removeprefix("base_model.model.")
        part = ("language model" if _under(name, facts.language_model) else
                "projector" if _under(name, facts.projector) else "tower" if _under(name, facts.tower) else "elsewhere")
        counts[part] += 1
    return counts


def table() -> str:
    from deepsynth.configuration import ConfigError
    from deepsynth.lora import LoraSettings
    from deepsynth.models import ModelConfig, build_document_model
    from deepsynth.models.vlm.build import meta_skeleton
    from deepsynth.models.vlm.families import family_facts
    from deepsynth.models.vlm.tiny import TINY_VLM_FAMILIES, build_tiny_vlm

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    rows = [f"LoRA modules per part (language model / tower / projector), features cached; commit {commit}", "",
            "| family | q_proj,v_proj | default | q_proj + tower path |", "|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as root:
        for family in TINY_VLM_FAMILIES:
            folder = build_tiny_vlm(family, Path(root) / family)
            facts = family_facts(family)
            leaves = {name.rsplit(".", 1)[-1] for name, module in meta_skeleton(str(folder)).named_modules()
                      if name.startswith(facts.tower + ".") and not name.startswith(facts.projector + ".")
                      and hasattr(module, "in_features")}
            leaf = next(leaf for leaf in ("q_proj", "qkv", "fc1") if leaf in leaves)
            cells = []
            for targets in (("q_proj", "v_proj"), (), ("q_proj", f"{facts.tower}.{leaf}")):
                try:
                    model = build_document_model(ModelConfig(name=str(folder), max_target_tokens=8),
                                                 LoraSettings(rank=4, alpha=8, dropout=0.0, target_modules=targets))
                except ConfigError as error:  # a code version that does not read module paths
                    cells.append("refused: " + str(error).splitlines()[-1].split(";")[0].strip(" -"))
                    continue
                counts = where(model, facts)
                cells.append(f"{counts['language model']} / {counts['tower']} / {counts['projector']}"
                             f"{'' if not counts['elsewhere'] else ' +' + str(counts['elsewhere'])}, "
                             f"{'cached' if model.caches_features else 'not cached'}")
            rows.append(f"| {family} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="", help="also write the table to this file")
    args = parser.parse_args()
    text = table()
    print(text)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
