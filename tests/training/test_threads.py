"""Torch threads on a shared machine: a moment's load does not halve a run; sustained load does
cost a thread; --threads is honoured; the worker samples again before training."""

from deepsynth.training import hardware


def _samples(*values):
    values = list(values)
    return lambda sample_s: values.pop(0)


def test_a_moment_of_load_keeps_the_cores_and_sustained_load_gives_one_up(monkeypatch):
    monkeypatch.setattr(hardware, "available_cores", lambda: 2)
    brief = hardware.sustained_busy_cores(sample=_samples(1.9, 0.1, 0.2))
    assert brief == 0.1 and hardware.choose_threads(0, 1, busy=brief) == 2
    sustained = hardware.sustained_busy_cores(sample=_samples(1.0, 1.1, 0.9))
    assert hardware.choose_threads(0, 1, busy=sustained) == 1
    assert hardware.choose_threads(0, 2, busy=0.0) == 1  # two jobs share two cores
    assert hardware.choose_threads(3, 1, busy=2.0) == 3  # --threads is what runs


def test_the_worker_chooses_again_after_reading_the_pages(tiny_config, mlflow_tracking_uri, monkeypatch):
    """At start the machine looks busy (1 thread); before training it is quiet again (2)."""
    import torch

    from deepsynth.tracking import store
    from deepsynth.training import worker

    answers, seen = [1, 2], []
    monkeypatch.setattr(worker, "choose_threads", lambda requested, jobs: answers.pop(0))
    original = worker._Session._fit

    def fit(self, *args, **kwargs):
        seen.append(torch.get_num_threads())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(worker._Session, "_fit", fit)
    try:
        run_id = worker.train(tiny_config(threads=0, max_steps=1, eval_docs=0), progress=False)
    finally:
        torch.set_num_threads(1)
    assert seen == [2] and answers == []
    assert store.run_tags(run_id, mlflow_tracking_uri)["deepsynth.threads"] == "2"
