"""Adapters that need different bases run side by side: a base per distinct setting, loaded
together when the estimate says they fit in memory, one at a time (said in one sentence, before
anything loads) when it says they do not. Before, the second adapter was refused with a raw dict."""

from __future__ import annotations

import json
import shutil

import pytest

from deepsynth.inference import BASE, Summarizer
from deepsynth.inference.side_by_side import compare_side_by_side, differences, plan_side_by_side

TOKENS = 6


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSYNTH_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def other_base(two_adapters, tmp_path):
    """The second adapter, trained (as its card says) with another reading setting."""
    folder = tmp_path / "other-base"
    shutil.copytree(two_adapters[1], folder)
    card = json.loads((folder / "deepsynth_model.json").read_text())
    card["model_config"]["max_source_tokens"] = 99
    card["reader"]["max_feature_tokens"] = 99  # the reader's identity follows it, as a real training writes
    (folder / "deepsynth_model.json").write_text(json.dumps(card))
    return folder


def test_the_plan_groups_by_base_and_names_the_differences_in_words(two_adapters, other_base):
    one = str(two_adapters[0])
    plan = plan_side_by_side([one, str(other_base), str(two_adapters[1])], available_bytes=10**12)
    assert [[a.label for a in group.adapters] for group in plan.groups] == [[one, str(two_adapters[1])],
                                                                            [str(other_base)]]
    assert not plan.one_at_a_time and plan.note == ""
    assert plan.bases == (f"2 bases, one per distinct setting: {other_base} needs max source tokens 99 ({one}: 192), "
                          f"page reader max feature tokens 99 ({one}: 192)")
    assert differences(plan.groups[0].adapters[0].card, plan.groups[1].adapters[0].card) == [
        "max source tokens 192 vs 99", "page reader max feature tokens 192 vs 99"]
    single = plan_side_by_side([one], available_bytes=1)  # one base: nothing to choose, nothing said
    assert not single.one_at_a_time and single.note == "" and single.bases == ""


def test_adapters_on_different_bases_answer_side_by_side(two_adapters, other_base, page):
    one, other = str(two_adapters[0]), str(other_base)
    together = dict(compare_side_by_side(plan_side_by_side([one, other], available_bytes=10**12), image=page,
                                         max_new_tokens=TOKENS))
    assert list(together) == [BASE, one, other]
    alone = Summarizer.for_adapter(other_base, max_new_tokens=TOKENS)
    assert together[other] == alone.summarize(image=page)
    assert together[one] == Summarizer.for_adapter(two_adapters[0], max_new_tokens=TOKENS).summarize(image=page)

    tight = plan_side_by_side([one, other], available_bytes=1000)  # the estimate says they do not fit
    assert tight.one_at_a_time
    assert tight.note.startswith("The 2 bases these adapters need take about") and tight.note.count(".") <= 3
    assert "one at a time" in tight.note
    loads: list[float] = []
    in_turn = dict(compare_side_by_side(tight, image=page, max_new_tokens=TOKENS, on_loaded=loads.append))
    assert in_turn == together and len(loads) == 2  # same answers, a base loaded per group in turn


def test_the_infer_command_runs_both_and_says_why_one_at_a_time(two_adapters, other_base, page, capsys, monkeypatch):
    from deepsynth.cli import main
    from deepsynth.inference import side_by_side

    one, other = str(two_adapters[0]), str(other_base)
    assert main(["infer", "--adapter", one, "--adapter", other, "--image", str(page), "--stream",
                 "--max-new-tokens", str(TOKENS)]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[0]["event"] == "plan" and events[0]["note"] == "" and "max source tokens" in events[0]["bases"]
    assert [e["event"] for e in events[1:]] == ["loaded", "summary", "summary"]
    assert [e["label"] for e in events[2:]] == [one, other]

    monkeypatch.setattr(side_by_side, "available_memory_bytes", lambda: 1000)
    assert main(["infer", "--adapter", one, "--adapter", other, "--image", str(page), "--stream",
                 "--max-new-tokens", str(TOKENS)]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert "one at a time" in events[0]["note"]
    assert [e["event"] for e in events[1:]] == ["loaded", "summary", "loaded", "summary"]  # said before loading
