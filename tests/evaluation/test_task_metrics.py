"""Every task metric on cases computed by hand: unicode, empty predictions, empty references,
corpus aggregates that differ from the mean, and the registry's directions."""

import pytest

from deepsynth.evaluation import metrics as registry
from deepsynth.evaluation.metric import HIGHER, LOWER


def one(name, prediction, reference):
    return registry.get_metric(name).per_document([prediction], [reference])[0]


def test_registry_names_and_directions():
    assert registry.METRIC_NAMES == ("rouge1", "rouge2", "rougeL", "cer", "wer", "anls", "exact_match",
                                     "json_valid", "field_f1", "chrf", "bleu")
    assert {n for n in registry.METRIC_NAMES if registry.direction(n) == LOWER} == {"cer", "wer"}
    assert registry.direction("rougeL") == HIGHER
    with pytest.raises(ValueError, match="unknown metric 'rouge'.*cer"):
        registry.get_metric("rouge")


def test_character_error_rate_by_hand():
    assert one("cer", "sitting", "kitten") == pytest.approx(100 * 3 / 6)
    assert one("cer", "kitten", "sitting") == pytest.approx(100 * 3 / 7)
    assert one("cer", "\ufb01ne", "fine") == 0.0  # the ligature "fi" is two characters after NFKC
    assert one("cer", "cafe\u0301", "caf\u00e9") == 0.0  # decomposed and composed é are one character
    assert one("cer", "Café", "café") == 25.0  # case is kept
    assert one("cer", "a  b\n c ", "a b c") == 0.0  # whitespace collapsed
    assert one("cer", "", "abc") == 100.0  # empty prediction: every reference character deleted
    assert one("cer", "", "") == 0.0 and one("cer", "ab", "") == 100.0  # empty reference
    assert one("cer", "abcabcabc", "abc") == 200.0  # not capped


def test_word_error_rate_by_hand():
    assert one("wer", "the cat sat", "the cat sat down") == 25.0
    assert one("wer", "the bat sat", "the cat sat") == pytest.approx(100 / 3)
    assert one("wer", "The cat", "the cat") == 50.0
    assert one("wer", "", "two words") == 100.0 and one("wer", "", "") == 0.0


def test_error_rate_corpus_pools_characters():
    cer = registry.get_metric("cer")
    predictions, references = ["abce", "y"], ["abcd", "x"]
    assert cer.per_document(predictions, references) == [25.0, 100.0]
    assert cer.aggregate(predictions, references) == pytest.approx(100 * 2 / 5)  # not the mean, 62.5
    assert registry.corpus(["cer", "wer", "rougeL"], predictions, references).keys() == {"cer", "wer"}


def test_anls_by_hand():
    assert one("anls", "Jhon Smith", "John Smith") == pytest.approx(80.0)  # 2 edits over 10 characters
    assert one("anls", " Paris ", "paris") == 100.0  # lower-cased, trimmed
    assert one("anls", "abcxy", "abcde") == pytest.approx(60.0)
    assert one("anls", "abef", "abcd") == 0.0  # distance 0.5 reaches the threshold: nothing
    assert one("anls", "four", '["4", "four"]') == 100.0  # several accepted answers: the best
    assert one("anls", "", "abc") == 0.0 and one("anls", "", "") == 100.0
    assert one("anls", "Zürich", "Zu\u0308rich") == 100.0


def test_exact_match_by_hand():
    assert one("exact_match", "The Eiffel Tower.", "eiffel tower") == 100.0
    assert one("exact_match", "Eiffel", "eiffel tower") == 0.0
    assert one("exact_match", "", "") == 100.0 and one("exact_match", "", "x") == 0.0


def test_json_validity_and_field_f1_by_hand():
    fenced = '```json\n{"a": 1, "b": "x"}\n```'
    assert one("json_valid", fenced, '{"a": 1}') == 100.0
    assert one("field_f1", fenced, '{"a": 1, "b": "y", "c": 2}') == pytest.approx(40.0)  # 2*1 / (2+3)
    assert one("json_valid", '{"a": 1', '{"a": 1}') == 0.0 and one("field_f1", '{"a": 1', '{"a": 1}') == 0.0
    assert one("field_f1", '{"addr": {"city": "Ko\u0308ln"}}', '{"addr": {"city": "Köln"}}') == 100.0
    assert one("field_f1", '{"items": ["a", "b"]}', '{"items": ["b", "a", "a"]}') == pytest.approx(80.0)
    assert one("field_f1", "{}", "{}") == 100.0
    assert one("field_f1", "", '{"a": 1}') == 0.0  # empty prediction: not JSON
    with pytest.raises(ValueError, match="the reference is not valid JSON"):
        one("field_f1", "{}", "not json")
    from deepsynth.errors import InputError

    with pytest.raises(InputError, match="document 'inv-2': the reference is not valid JSON: 'total: 3'"):
        registry.score(["inv-1", "inv-2"], ['{"a": 1}', "total: 3"], ["{}", "{}"], ("json_valid", "field_f1"))


def test_field_f1_corpus_is_micro():
    f1 = registry.get_metric("field_f1")
    predictions, references = ['{"a": 1, "b": "x"}', "{}"], ['{"a": 1, "b": "y", "c": 2}', '{"d": 4}']
    assert f1.per_document(predictions, references) == [pytest.approx(40.0), 0.0]
    assert f1.aggregate(predictions, references) == pytest.approx(200 * 1 / 6)


def test_chrf_and_bleu():
    import sacrebleu

    assert one("chrf", "the cat sat on the mat", "the cat sat on the mat") == 100.0
    assert one("bleu", "the cat sat on the mat", "the cat sat on the mat") == 100.0
    assert one("chrf", "", "") == 100.0 and one("bleu", "", "") == 100.0  # both empty: correct
    assert one("chrf", "", "the cat") == 0.0 and one("bleu", "", "the cat") == 0.0
    assert one("chrf", "xyz", "abc") == 0.0
    predictions, references = ["the cat sat on a mat", "a dog"], ["the cat sat on the mat", "the dog barked"]
    for name, sentence in (("chrf", sacrebleu.sentence_chrf), ("bleu", sacrebleu.sentence_bleu)):
        assert registry.get_metric(name).per_document(predictions, references) == pytest.approx(
            [sentence(p, [r]).score for p, r in zip(predictions, references)])
    assert registry.get_metric("bleu").aggregate(predictions, references) == pytest.approx(
        sacrebleu.corpus_bleu(predictions, [references]).score)
    assert registry.get_metric("chrf").aggregate(predictions, references) == pytest.approx(
        sacrebleu.corpus_chrf(predictions, [references]).score)


def test_score_keeps_rouge_for_summaries_and_scores_other_metrics():
    from deepsynth.evaluation import rouge

    summary = registry.score(["d1"], ["the cat sat"], ["the cat"])
    assert summary == rouge.score(["d1"], ["the cat sat"], ["the cat"]) and summary.corpus == {}
    scored = registry.score(["d1", "d2"], ["abcd", "x"], ["abce", "y"], ("cer", "wer"))
    assert scored.scores == {"cer": 62.5, "wer": 100.0}
    assert scored.corpus == {"cer": pytest.approx(40.0), "wer": 100.0}
    assert scored.per_document[0] == {"cer": 25.0, "wer": 100.0}
