"""The family table (models/vlm/families.py) against the models it describes, and its readers."""

from __future__ import annotations

import pytest

from deepsynth.models.vlm.families import DESIGNS, FAMILIES, FamilyFacts, TinyModel, display_name, family_facts


@pytest.mark.parametrize("family", list(FAMILIES))
def test_the_tables_module_paths_are_where_the_built_model_keeps_its_parts(family, vlm_folder):
    from deepsynth.models.vlm.build import (
        PROJECTOR_NAMES, TOWER_NAMES, language_model_path, meta_skeleton, projector_and_tower, submodule_path)

    model = meta_skeleton(str(vlm_folder(family)))
    facts = FAMILIES[family]
    lm_path = language_model_path(model)
    assert facts.language_model == lm_path  # what get_decoder() returns
    # the table agrees with a search by module name, and the target picker takes the table's
    assert (facts.projector, facts.tower) == (submodule_path(model, PROJECTOR_NAMES, lm_path),
                                              submodule_path(model, TOWER_NAMES, lm_path))
    assert projector_and_tower(model, lm_path) == (facts.projector, facts.tower)
    text_type = model.config.get_text_config().model_type
    assert (facts.text_model_type or "llama") == text_type


@pytest.mark.parametrize("family", list(FAMILIES))
def test_the_estimator_describes_each_family_from_the_table(family, vlm_folder):
    from deepsynth.estimate import load_architecture, model_family

    arch = load_architecture(str(vlm_folder(family)))
    facts = FAMILIES[family]
    assert model_family(arch) == facts.display_name == display_name(family)
    assert (arch.vlm.language_root, arch.vlm.projector) == (facts.language_model, facts.projector)
    assert arch.vlm.per_sample_rope == facts.per_sample_rope


def test_a_path_the_model_lacks_is_an_error_naming_the_table(vlm_folder, monkeypatch):
    from deepsynth.errors import DeepSynthError
    from deepsynth.models.vlm import build, families
    from deepsynth.models.vlm.build import language_model_path, meta_skeleton

    model = meta_skeleton(str(vlm_folder("idefics3")))
    wrong = FamilyFacts(**{**vars(FAMILIES["idefics3"]), "projector": "model.nowhere"})
    monkeypatch.setattr(families, "FAMILIES", {**FAMILIES, "idefics3": wrong})
    with pytest.raises(DeepSynthError, match=r"no module model\.nowhere.*families\.py"):
        build.projector_and_tower(model, language_model_path(model))


def test_every_entry_gives_its_reason_and_a_known_design():
    for facts in FAMILIES.values():
        assert facts.reason.strip() and facts.design in DESIGNS and facts.tiny.image_size > 0
    with pytest.raises(ValueError, match="reason"):
        FamilyFacts("x", "X", DESIGNS[0], "a", "b", "c", TinyModel(8), reason=" ")
    with pytest.raises(ValueError, match="design"):
        FamilyFacts("x", "X", "no_such_design", "a", "b", "c", TinyModel(8), reason="r")
    assert family_facts("llama") is None and display_name("llama") == "llama"
