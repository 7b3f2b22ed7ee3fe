"""LoRA targets mean what users type, per family: a plain name (`q_proj`) reaches the language model
only, the kind's default too; the tower gets LoRA only when named by path. The language model's and
the tower's paths come from the family table (not from the code under test); the adapter saved
reloads in plain PEFT with the same LoRA modules."""

from __future__ import annotations

import json
import re

import pytest

from deepsynth.models.vlm.families import family_facts
from deepsynth.models.vlm.tiny import TINY_VLM_FAMILIES

PEFT_PREFIX = "base_model.model."


def build(folder, targets):
    from deepsynth.lora import LoraSettings
    from deepsynth.models import ModelConfig, build_document_model

    return build_document_model(ModelConfig(name=str(folder), max_target_tokens=8),
                                LoraSettings(rank=4, alpha=8, dropout=0.0, target_modules=tuple(targets)))


def lora_modules(peft_model) -> set[str]:
    """Full names (in the base model) of every module that holds a LoRA adapter."""
    return {name[len(PEFT_PREFIX):] for name, module in peft_model.named_modules()
            if hasattr(module, "lora_A") and len(module.lora_A)}


def tower_leaf(folder, tower: str, projector: str) -> str:
    """A linear layer's leaf name inside the tower (not the projector) of this family."""
    from deepsynth.models.vlm.build import meta_skeleton

    leaves = {name.rsplit(".", 1)[-1] for name, module in meta_skeleton(str(folder)).named_modules()
              if name.startswith(tower + ".") and not name.startswith(projector + ".") and hasattr(module, "in_features")}
    return next(leaf for leaf in ("q_proj", "qkv", "fc1") if leaf in leaves)


def reloaded_modules(folder, adapter) -> set[str]:
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText

    return lora_modules(PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained(str(folder)), str(adapter)))


@pytest.mark.parametrize("family", TINY_VLM_FAMILIES)
def test_plain_names_and_defaults_stay_in_the_language_model_and_a_tower_path_reaches_the_tower(
        family, vlm_folder, tmp_path):
    facts = family_facts(family)
    lm, tower = facts.language_model, facts.tower
    folder = vlm_folder(family)

    typed = build(folder, ("q_proj", "v_proj"))
    modules = lora_modules(typed.decoder)
    assert modules and {name.rsplit(".", 1)[-1] for name in modules} == {"q_proj", "v_proj"}
    assert all(name.startswith(lm + ".") for name in modules)
    assert typed.caches_features
    # adapter_config.json holds the resolved pattern: plain PEFT places LoRA where DeepSynth did
    saved = typed.save_adapter(tmp_path / "typed")
    pattern = json.loads((saved / "adapter_config.json").read_text())["target_modules"]
    assert isinstance(pattern, str)
    assert {name for name, _ in typed.decoder.get_base_model().named_modules() if re.fullmatch(pattern, name)} == modules
    assert reloaded_modules(folder, saved) == modules

    default = build(folder, ())
    defaults = lora_modules(default.decoder)
    assert defaults and all(name.startswith(lm + ".") for name in defaults)
    assert default.caches_features

    leaf = tower_leaf(folder, tower, facts.projector)
    named = build(folder, ("q_proj", f"{tower}.{leaf}"))
    modules = lora_modules(named.decoder)
    in_tower = {name for name in modules if name.startswith(tower + ".")}
    assert in_tower and all(name.rsplit(".", 1)[-1] == leaf for name in in_tower)
    assert {name for name in modules if not name.startswith(tower + ".")} == {
        name for name in typed_modules_with_leaf(typed.decoder, "q_proj")}
    assert not named.caches_features  # the tower trains: its features cannot be cached
    saved = named.save_adapter(tmp_path / "named")
    assert reloaded_modules(folder, saved) == modules


def typed_modules_with_leaf(peft_model, leaf: str) -> set[str]:
    return {name for name in lora_modules(peft_model) if name.rsplit(".", 1)[-1] == leaf}


def test_a_plain_name_only_the_tower_has_is_refused_naming_the_language_model(vlm_folder):
    from deepsynth.configuration import ConfigError

    with pytest.raises(ConfigError, match=r"no linear layer matches qkv.*reaches the language model \(model\.language_model\) "
                                          r"only; name a module path"):
        build(vlm_folder("qwen2_vl"), ("qkv",))


def test_resolution_rules_without_a_model():
    from deepsynth.models.vlm.targets import resolve_targets

    linear = ["lm.layers.0.attn.q_proj", "lm.layers.0.attn.v_proj", "lm.layers.0.mlp.fc1",
              "tower.blocks.0.attn.q_proj", "tower.blocks.0.mlp.fc1", "proj.linear_1", "lm_head"]
    names = ["lm", "lm.layers", "lm.layers.0", "lm.layers.0.attn", "lm.layers.0.mlp", "tower", "tower.blocks",
             "tower.blocks.0", "tower.blocks.0.attn", "tower.blocks.0.mlp", "proj", *linear]

    def modules(*typed):
        resolved = resolve_targets(typed, linear, names, "lm")
        assert {name for name in names if re.fullmatch(resolved.pattern, name)} == set(resolved.modules)
        return set(resolved.modules), resolved

    assert modules("q_proj")[0] == {"lm.layers.0.attn.q_proj"}
    assert modules("attn.q_proj")[0] == {"lm.layers.0.attn.q_proj"}
    assert modules("tower.q_proj")[0] == {"tower.blocks.0.attn.q_proj"}
    assert modules("tower")[0] == {"tower.blocks.0.attn.q_proj", "tower.blocks.0.mlp.fc1"}
    assert modules("proj")[0] == {"proj.linear_1"}
    assert modules("lm_head")[0] == {"lm_head"}
    found, resolved = modules("fc1", "tower.blocks.0.mlp.fc1", "nothing_here")
    assert found == {"lm.layers.0.mlp.fc1", "tower.blocks.0.mlp.fc1"}
    assert resolved.unmatched == ("nothing_here",) and resolved.outside_language_model == ("tower.blocks.0.mlp.fc1",)


def test_the_demos_train_a_vlm_on_its_kinds_defaults_and_the_embedded_model_on_q_and_v(vlm_folder, tiny_dataset):
    """`deepsynth demo --model FOLDER` and `demo --render-sweep --model FOLDER` (demo/setup.py)."""
    import argparse

    from deepsynth.demo.setup import add_arguments, demo_train_config

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    folder = vlm_folder("smolvlm")
    config = demo_train_config(parser.parse_args(["--model", str(folder)]), tiny_dataset)
    assert config.lora.target_modules == ()
    model = build(folder, config.lora.target_modules)
    assert all(name.startswith(family_facts("smolvlm").language_model + ".") for name in lora_modules(model.decoder))
    assert model.caches_features
    embedded = demo_train_config(parser.parse_args([]), tiny_dataset)
    assert embedded.lora.target_modules == ("q_proj", "v_proj")


@pytest.mark.parametrize("tower", [False, True])
@pytest.mark.parametrize("family", ("deepseek_ocr2", "idefics3", "smolvlm"))
def test_the_estimator_reads_typed_targets_as_the_model_does(family, tower, vlm_folder):
    """The estimator (config.json alone, no weights) adapts exactly the modules the built model does,
    on the families whose towers hold q_proj too."""
    from deepsynth.estimate.builtin import architecture_from_config
    from deepsynth.estimate.params import count_parameters
    from deepsynth.lora import LoraSettings

    folder = vlm_folder(family)
    targets = ("q_proj", f"{family_facts(family).tower}.q_proj" if tower else "v_proj")
    counted = count_parameters(architecture_from_config(folder), LoraSettings(rank=4, alpha=8, target_modules=targets))
    built = build(folder, targets)
    assert {module.name for module in counted.match.adapted} == lora_modules(built.decoder)
    assert counted.adapter == sum(p.numel() for n, p in built.named_parameters() if ".lora_" in n)
