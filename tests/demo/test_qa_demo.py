"""`deepsynth demo --task qa` end to end on the tiny model and 4 ACLSum papers: the dataset is
split by paper with three questions each (the question a prompt, never drawn), each paper's pages
are read once, and the report names ROUGE-L as the primary metric with PASS/FAIL lines. Also:
the reader reads rows with identical pages once, and `deepsynth demo` without --task still runs
the main job."""

import argparse
import json
from collections import Counter
from pathlib import Path

import pytest

from deepsynth.data.bundled import ACLSUM_ASPECTS, ACLSUM_QUESTIONS, aclsum_questions
from deepsynth.demo import cli as demo_cli
from deepsynth.demo import qa_job


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    demo_cli.add_arguments(parser)
    return parser.parse_args(list(argv))


class _CountingReader:
    """Stands in for a page reader: counts the documents it is asked to read."""

    def __init__(self) -> None:
        self.documents: list[tuple[bytes, ...]] = []

    def read_documents(self, documents):
        from deepsynth.models.builtin.page_reader import PageReading

        self.documents.extend(tuple(page.tobytes() for page in pages) for pages in documents)
        return [PageReading(text=f"reading {len(self.documents) - len(documents) + i}") for i in range(len(documents))]

    def identity(self):
        return {"reader": "counting"}


def test_rows_with_the_same_pages_are_read_once(tmp_path):
    from datasets import Dataset, Features, Image as ImageFeature, List, Value
    from PIL import Image

    from deepsynth.models.reading import read_dataset

    pages = [Image.new("L", (40, 30), shade) for shade in (255, 120, 30)]
    rows = {"id": ["a#1", "a#2", "b#1", "a#3", "c#1", "b#2"],
            "pages": [[pages[0]], [pages[0]], [pages[1], pages[2]], [pages[0]], [pages[2], pages[1]],
                      [pages[1], pages[2]]]}
    split = Dataset.from_dict(rows, features=Features({"id": Value("string"), "pages": List(ImageFeature())}))
    reader = _CountingReader()
    readings = read_dataset(reader, split, cache_dir=tmp_path, batch_documents=4, progress=False)
    assert len(reader.documents) == 3  # a, b and c: page order makes c differ from b
    assert readings[0] == readings[1] == readings[3] and readings[2] == readings[5]
    assert len({readings[0].text, readings[2].text, readings[4].text}) == 3


def test_the_default_demo_still_runs_the_main_job(monkeypatch):
    from deepsynth.demo import main_job

    args = _args()
    assert args.task == "summarize" and args.render_sweep is None
    monkeypatch.setattr(main_job, "run_main_job", lambda a: 17)
    monkeypatch.setattr(qa_job, "run_qa_job", lambda a: 23)
    assert demo_cli.run(args) == 17
    assert demo_cli.run(_args("--task", "qa")) == 23


def test_qa_demo_end_to_end_on_four_papers(tmp_path, monkeypatch, capsys, mlflow_tracking_uri):
    import deepsynth.models as models
    from deepsynth.data.storage import load_dataset_dir

    monkeypatch.setenv("DEEPSYNTH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DEEPSYNTH_CACHE", str(tmp_path / "cache"))
    read: list[tuple[bytes, ...]] = []
    original = models.build_document_model

    def counting_model(*args, **kwargs):  # every document the frozen reader reads, by its pixels
        model = original(*args, **kwargs)
        reader = getattr(model, "reader", model)
        read_documents = reader.read_documents

        def counted(documents):
            read.extend(tuple(page.tobytes() for page in pages) for pages in documents)
            return read_documents(documents)

        reader.read_documents = counted
        return model

    monkeypatch.setattr(models, "build_document_model", counting_model)
    results_file = tmp_path / "demo-qa.json"
    args = _args("--task", "qa", "--model", "tiny", "--papers", "2", "--eval-papers", "1", "--qa-steps", "2",
                 "--threads", "1", "--tracking-uri", mlflow_tracking_uri, "--experiment", "tests-demo-qa",
                 "--results", str(results_file))
    assert demo_cli.run(args) == 0
    out = capsys.readouterr().out

    # the dataset: 4 papers split by paper, three questions each, the question a prompt only
    folder = next((tmp_path / "home").rglob("demo-aclsum-qa-2-1x2-*"))
    loaded = load_dataset_dir(folder)
    assert loaded.config.task == "qa"
    questions = aclsum_questions()
    papers = {}
    for name, split in loaded.dataset.items():
        by_paper = Counter(qa_job.paper_of(i) for i in split["id"])
        assert set(by_paper.values()) == {3}
        papers[name] = set(by_paper)
        for row in split:
            paper, aspect = row["id"].split("#")
            assert row["prompt"] == ACLSUM_QUESTIONS[aspect] and row["instruction"] == ""
            assert row["summary"] == dict((a, ans) for a, _, ans in questions[paper])[aspect]
        for start in range(0, len(split), 3):  # the three questions share the paper's pages, byte for byte
            trio = split.select(range(start, start + 3))
            assert len({tuple(p.tobytes() for p in row["pages"]) for row in trio}) == 1
    assert {name: len(p) for name, p in papers.items()} == {"train": 2, "validation": 1, "test": 1}
    assert not (papers["train"] & papers["test"] or papers["train"] & papers["validation"]
                or papers["validation"] & papers["test"])

    # each paper read once: train's 2 papers for 6 questions, the test paper for its 3
    assert len(read) == len(set(read)) == 3

    # the report: papers, the primary metric and why, the table, PASS/FAIL lines
    assert "papers: 2 train, 1 validation, 1 test (split by paper" in out
    assert "primary metric: ROUGE-L (the median reference answer has" in out
    assert "ROUGE-L on 3 test questions about 1 papers" in out
    assert "baseline: best-matching sentence" in out and "baseline: lead (k=" in out
    verdicts = [line.strip() for line in out.splitlines() if line.strip().startswith(("PASS ", "FAIL "))]
    assert len(verdicts) == 3
    assert any("best baseline" in v and v.endswith("+ 5 ROUGE-L") for v in verdicts)
    assert any("paired 95% interval of tuned -" in v for v in verdicts)
    summary = json.loads(next((tmp_path / "home").rglob("summary-qa-ocr_text-test.json")).read_text())
    assert summary["primary_metric"] == "rougeL" and summary["questions"] == 3
    assert summary["papers"] == {"train": 2, "validation": 1, "test": 1}
    tuned = summary["scores"]["tuned (LoRA)"]["rougeL"]
    assert tuned[1] <= tuned[0] <= tuned[2]
    assert Path(summary["dataset"]) == folder
    assert summary["steps"] == summary["planned_steps"] == 2  # no time budget cuts the steps
    assert "tuned answers identical across a paper's three questions: " in out
    assert any("quiet cores (CPU s / 2)" in v for v in verdicts)
    record = json.loads(results_file.read_text())
    assert record["name"] == "demo-qa" and record["tables"]["scores"]["columns"][:2] == ["model", "ROUGE-L"]
    assert {row[0] for row in record["tables"]["scores"]["rows"]} >= {"tuned (LoRA)", "base (untouched)"}
    assert record["figures"]["same_answer_papers"][1] == 1 and record["figures"]["questions"] == 3


def test_same_answer_papers_counts_papers_whose_three_answers_are_one():
    from deepsynth.evaluation.predictions import RunPredictions

    predictions = RunPredictions(ids=("p1#challenge", "p1#approach", "p1#outcome", "p2#challenge", "p2#approach",
                                      "p2#outcome"), references=("",) * 6,
                                 outputs={"tuned": ("They propose X.", "They propose X. ", "They propose X.",
                                                    "A problem.", "They propose Y.", "It works.")})
    assert qa_job.same_answer_papers(predictions, "tuned") == (1, 2)
    assert qa_job.quiet_seconds(1000.0) == 500.0


@pytest.mark.parametrize("answers, primary", [(["a b c d e f g"] * 3, "rougeL"), (["Paris"] * 3, "anls")])
def test_the_metrics_code_picks_rouge_l_for_answers_over_five_words(answers, primary):
    from deepsynth.evaluation.tasks import task_metrics

    assert task_metrics("qa", answers).primary == primary
    aclsum_answers = [answer for trio in aclsum_questions().values() for _, _, answer in trio]
    aspects = {aspect for trio in aclsum_questions().values() for aspect, _, _ in trio}
    assert len(aclsum_answers) == 3 * 250 and aspects == set(ACLSUM_ASPECTS)
    assert task_metrics("qa", aclsum_answers).primary == "rougeL"


def test_each_question_reaches_the_decoder_as_text_beside_the_same_reading():
    from deepsynth.lora import preset
    from deepsynth.models import build_document_model
    from deepsynth.models.builtin.page_reader import PageReading
    from deepsynth.models.config import ModelConfig

    model = build_document_model(ModelConfig(name="tiny", max_source_tokens=32, max_target_tokens=8),
                                 preset("minimal"))
    reading = PageReading(text="We study parsing. We propose a model. It works.")
    questions = list(ACLSUM_QUESTIONS.values())
    batch = model.collate([reading] * 3, questions)
    rows = [model.tokenizer.decode(row[mask.bool()]) for row, mask in zip(batch["input_ids"], batch["attention_mask"])]
    assert len(set(rows)) == 3  # one reading, three different prompts
    for row, question in zip(rows, questions):
        assert question in row and "We study parsing." in row  # the reading, cut at max_source_tokens
