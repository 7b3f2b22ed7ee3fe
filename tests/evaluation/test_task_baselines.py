"""Baselines of the other tasks: chosen on the training documents only, then answering held-out
documents from their text, prompt or reader text alone."""

import json

import pytest

from deepsynth.evaluation import task_baselines as tb
from deepsynth.evaluation.tasks import task_metrics

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi".split()


def _by_name(fitted):
    return {b.name: b for b in fitted}


def test_qa_short_answers_frequent_answer_lead_and_best_sentence():
    train_prompts = ["When was it founded?"] * 3 + ["Who wrote it?"] * 3
    train_answers = ["1999", "1999", "2001", "Ann", "Bob", "Ann"]
    train_texts = [" ".join(WORDS[i:] + WORDS[:i]) for i in range(6)]
    qa = task_metrics("qa", train_answers)
    fitted = _by_name(tb.fit_task_baselines(qa, train_texts, train_answers, train_prompts))
    assert list(fitted) == ["frequent_answer", "lead", "best_sentence"] and qa.primary == "anls"
    frequent = fitted["frequent_answer"]
    assert frequent.predict(["any text", "x", "y"], ["when was it FOUNDED?", "Who wrote it?", "Where?"]) == \
        ["1999", "Ann", "1999"]  # an unseen prompt gets the most frequent answer overall
    assert frequent.choice == {"prompts": 2, "overall": "1999"}
    assert frequent.train_score == pytest.approx(100 * 4 / 6)
    assert fitted["lead"].choice["k"] == 1 and fitted["lead"].predict(["first second"]) == ["first"]
    text = "Paris is large. The tower was built in 1889 by Eiffel. It is tall."
    assert fitted["best_sentence"].predict([text], ["When was the tower built?"]) == \
        ["The tower was built in 1889 by Eiffel."]
    assert tb.best_sentence("", "anything") == ""


def test_qa_lead_is_chosen_on_train_not_on_the_held_out_answers():
    # long answers: on train the answer is the text's first 7 words; a held-out answer of 12 words
    # never reaches the choice
    texts = [" ".join(WORDS[i:] + WORDS[:i]) for i in range(16)]
    answers = [" ".join(t.split()[:7]) for t in texts]
    qa = task_metrics("qa", answers)
    fitted = _by_name(tb.fit_task_baselines(qa, texts, answers, ["What is it?"] * 16))
    assert qa.primary == "rougeL" and "frequent_answer" not in fitted  # long answers: no frequent answer
    assert fitted["lead"].choice == {"k": 7} and fitted["lead"].train_score == pytest.approx(100.0)


def test_extract_most_frequent_value_per_field():
    train = [json.dumps(t) for t in ({"currency": "EUR", "total": 10, "vendor": "A"},
                                     {"currency": "EUR", "total": 12, "vendor": "B"},
                                     {"currency": "USD", "total": 10},
                                     {"currency": "EUR", "total": 10, "note": "rare"})]
    fitted = tb.fit_task_baselines(task_metrics("extract"), ["doc"] * 4, train)
    (baseline,) = fitted
    assert baseline.name == "frequent_values" and baseline.choice == {"fields": ["currency", "total", "vendor"]}
    output = json.loads(baseline.predict(["held-out text"])[0])
    assert output == {"currency": "EUR", "total": 10, "vendor": "A"}  # "note" is in 1 of 4: left out
    assert baseline.metric == "field_f1" and 0 < baseline.train_score < 100


def test_translate_copies_the_source_and_transcribe_takes_the_reader_text():
    (copy,) = tb.fit_task_baselines(task_metrics("translate"), ["Guten Tag"], ["Good day"])
    assert copy.name == "copy_source" and copy.predict(["Das Haus"]) == ["Das Haus"]
    assert copy.metric == "chrf" and copy.train_score < 50
    (reader,) = tb.fit_task_baselines(task_metrics("transcribe"), [], [], with_reader=True)
    assert reader.name == "reader" and reader.predict(["t1", "t2"], readings=["r1", "r2"]) == ["r1", "r2"]
    assert tb.fit_task_baselines(task_metrics("transcribe"), ["t"], ["t"]) == []  # no reader text: none
    with pytest.raises(ValueError, match="fit_baselines"):
        tb.fit_task_baselines(task_metrics("summarize"), ["t"], ["s"])
    with pytest.raises(ValueError, match="no training documents"):
        tb.fit_task_baselines(task_metrics("translate"), ["t"], ["  "])
