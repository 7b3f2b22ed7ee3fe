"""Several adapters on one base: switched without reloading, each giving its own summaries."""

from __future__ import annotations

import json
import shutil

import pytest

from deepsynth.errors import InputError
from deepsynth.inference import BASE, Summarizer

TOKENS = 10


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSYNTH_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def both(two_adapters) -> Summarizer:
    summarizer = Summarizer.for_adapter(two_adapters[0], label="one", max_new_tokens=TOKENS)
    summarizer.add_adapter(two_adapters[1], label="two")
    return summarizer


def test_adapters_switch_on_one_base_and_match_single_adapter_models(both, two_adapters, page, monkeypatch):
    import deepsynth.models

    base_model = both.model.decoder.get_base_model()
    weight = base_model.get_input_embeddings().weight
    monkeypatch.setattr(deepsynth.models, "build_document_model",
                        lambda *a, **k: pytest.fail("the base was rebuilt"))
    results = both.compare(image=page)
    assert list(results) == [BASE, "one", "two"]
    assert len(set(results.values())) == 3, results  # three different models, three different outputs
    assert both.model.decoder.get_base_model() is base_model
    assert base_model.get_input_embeddings().weight is weight
    assert both.summarize(image=page, adapter="two") == results["two"]
    assert both.summarize(image=page, adapter="one") == results["one"]  # switching back and forth
    monkeypatch.undo()
    for label, folder in zip(("one", "two"), two_adapters):
        alone = Summarizer.for_adapter(folder, max_new_tokens=TOKENS)
        assert alone.summarize(image=page) == results[label]


def test_the_base_output_is_the_model_without_any_adapter(both, page):
    import torch

    from deepsynth.lora import LoraSettings
    from deepsynth.models import ModelConfig, build_document_model
    from PIL import Image

    plain = build_document_model(ModelConfig(name="tiny"), LoraSettings(rank=1), "cpu")  # fresh LoRA: B = 0
    with Image.open(page) as image:
        reading = plain.read_pages([image.convert("L")])
    with torch.inference_mode():
        expected = plain.generate(plain.collate([reading]), max_new_tokens=TOKENS)[0]
    assert both.summarize(image=page, adapter=BASE) == expected


def test_text_input_is_rendered_then_read(both, tmp_path):
    text = "Engineers replaced the bridge cables after the storm damaged them."
    assert both.summarize(text=text, adapter="one") == both.compare(text=text, adapters=["one"], include_base=False)["one"]
    with pytest.raises(InputError, match="the text to summarize is empty"):
        both.summarize(text="  \n", adapter="one")


def test_adapters_from_a_run_and_the_registry(two_adapters, run_with_first_adapter, mlflow_tracking_uri, page):
    from deepsynth.tracking.registry import register_adapter

    register_adapter(run_with_first_adapter, "inference-test", alias="champion", uri=mlflow_tracking_uri)
    summarizer = Summarizer.for_adapter(two_adapters[0], label="dir", max_new_tokens=TOKENS)
    summarizer.add_adapter(run_with_first_adapter, label="run", uri=mlflow_tracking_uri)
    summarizer.add_adapter("models:/inference-test@champion", uri=mlflow_tracking_uri)
    results = summarizer.compare(image=page, include_base=False)
    assert results["dir"] == results["run"] == results["models:/inference-test@champion"]


def test_adapters_that_do_not_fit_are_refused(both, two_adapters, tmp_path, page):
    import torch
    from safetensors.torch import load_file, save_file

    other = tmp_path / "other-base"
    shutil.copytree(two_adapters[0], other)
    card = json.loads((other / "deepsynth_model.json").read_text())
    card["model_config"]["max_source_tokens"] = 99
    (other / "deepsynth_model.json").write_text(json.dumps(card))
    with pytest.raises(InputError, match=r"the adapter needs a base of its own: max source tokens 99 \(the loaded base has 192\)"):
        both.add_adapter(other, label="other")
    shaped = tmp_path / "shaped"
    shutil.copytree(two_adapters[0], shaped)
    state = load_file(str(shaped / "adapter_model.safetensors"))
    key = sorted(state)[0]
    state[key] = torch.zeros(state[key].shape[0] + 1, state[key].shape[1])
    save_file(state, str(shaped / "adapter_model.safetensors"))
    with pytest.raises(InputError, match=r"has shape \[5, 64\], the base model expects \[4, 64\]"):
        both.add_adapter(shaped, label="shaped")
    with pytest.raises(InputError, match=r"no such adapter folder"):
        both.add_adapter(tmp_path / "missing", label="missing")
    with pytest.raises(InputError, match=r"'base' names the base model"):
        both.add_adapter(two_adapters[1], label=BASE)
    with pytest.raises(InputError, match=r"no adapter labelled 'three'"):
        both.summarize(image=page, adapter="three")
    with pytest.raises(InputError, match=r"name the adapter to use"):
        both.summarize(image=page)
    with pytest.raises(InputError, match=r"give exactly one of text, a page file or image"):
        both.summarize(adapter="one")
    not_png = tmp_path / "page.png"
    not_png.write_bytes(b"\x89PNG broken")
    with pytest.raises(InputError, match=r"cannot read the image"):
        both.summarize(image=not_png, adapter="one")
    assert list(both.adapters) == ["one", "two"]  # nothing refused was half-loaded
    assert both.model.adapter_names() == ["default", "adapter_1", "adapter_2"]


def test_infer_command(two_adapters, page, tmp_path, capsys, both):
    from deepsynth.cli import main

    one, two = (str(p) for p in two_adapters)
    assert main(["infer", "--adapter", one, "--image", str(page), "--max-new-tokens", str(TOKENS)]) == 0
    assert capsys.readouterr().out == both.summarize(image=page, adapter="one") + "\n"
    assert main(["infer", "--adapter", one, "--adapter", two, "--image", str(page), "--base",
                 "--max-new-tokens", str(TOKENS)]) == 0
    printed = capsys.readouterr().out
    results = both.compare(image=page)
    assert printed == (f"[base model]\n{results[BASE]}\n\n[{one}]\n{results['one']}\n\n"
                       f"[{two}]\n{results['two']}\n\n")
    assert main(["infer", "--adapter", one, "--text-file", str(tmp_path / "none.txt")]) == 2
    assert "none.txt: no such file" in capsys.readouterr().err
