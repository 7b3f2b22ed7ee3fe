"""Non-learned baselines: the first-clause rule, lead-k, and choices made on the train split only."""

from deepsynth.evaluation import baselines
from deepsynth.evaluation.baselines import fit_baselines, first_clause, lead


def test_first_clause_takes_the_predicate_phrase_of_the_first_sentence():
    text = ("2001: A Space Odyssey is a 1968 epic science fiction film produced and directed by Stanley "
            "Kubrick, who co-wrote the screenplay. Its plot follows a voyage.")
    assert first_clause(text, 8) == "1968 epic science fiction film produced and directed"
    assert first_clause(text, 20) == "1968 epic science fiction film produced and directed by Stanley Kubrick"
    assert first_clause("The Alhambra is a palace and fortress complex located in Granada, Spain.", 12) == \
        "palace and fortress complex located in Granada"
    assert first_clause("Aladdin was the tale which everybody knows.", 8) == "tale"
    # no copula in the first sentence: its first words; the second sentence is never used
    assert first_clause("Painted from 1884 to 1886. It is a painting.", 8) == "Painted from 1884 to 1886"
    assert lead("one two  three\nfour", 3) == "one two three"


def test_choices_come_from_the_documents_they_are_fitted_on():
    # summaries are each document's first 3 words; the predicate phrase is noise
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()
    texts = [" ".join(words[i:] + words[:i]) + f" is a thing number {i}" for i in range(12)]
    summaries = [" ".join(t.split()[:3]) for t in texts]
    fitted = {b.name: b for b in fit_baselines(texts, summaries)}
    assert fitted["lead_k"].choice == {"k": 3} and fitted["lead_k"].train_rougeL == 100.0
    assert fitted["lead_k"].predict(["a b c d e"]) == ["a b c"]
    assert fitted["constant"].predict(["x", "y"]) == [fitted["constant"].choice["text"]] * 2
    assert fitted["constant"].choice["text"] in summaries
    assert set(fitted) == set(baselines.BASELINE_NAMES)
