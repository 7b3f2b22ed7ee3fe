"""The learning-rate schedule under a time budget (issue 22, item 15): planned over whichever limit
comes first. A run the budget stops ends with the rate at its floor (0); a run that reaches its
step cap keeps exactly the schedule it had before (same rates, same losses)."""

import math

import pytest
import torch

from deepsynth.tracking import store
from deepsynth.training import checkpoint
from deepsynth.training.loop import LrSchedule, TrainingLoop
from deepsynth.training.step_plan import BudgetPlan, budget_horizon
from deepsynth.training.worker import train


def _plain_schedule(schedule, warmup_steps, total_steps):
    """The schedule as it was before budgets planned it (copied from the earlier `lr_factor`)."""

    def factor(step):
        if warmup_steps and step < warmup_steps:
            return (step + 1) / warmup_steps
        if schedule == "constant":
            return 1.0
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        if schedule == "linear":
            return 1.0 - progress
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


@pytest.mark.parametrize("schedule", ["cosine", "linear", "constant"])
def test_at_its_step_cap_the_schedule_is_the_one_before(schedule):
    planned, plain = LrSchedule(schedule, 5, 90), _plain_schedule(schedule, 5, 90)
    assert [planned(step) for step in range(95)] == [plain(step) for step in range(95)]


def test_budget_horizon_is_where_the_stop_rule_stops():
    # The worker stops after the first step that ends at or past the budget: 10 s at 1 s a step,
    # 3.5 s spent after step 3 -> steps 4..10 end at 4.5 .. 10.5 s: the stop is after step 10.
    assert budget_horizon(3, 100, 3.5, 1.0, 10.0) == 10
    assert budget_horizon(3, 8, 3.5, 1.0, 10.0) == 8  # the step cap comes first
    assert budget_horizon(3, 100, 3.5, 1.0, 0.0) == 100  # no budget
    assert budget_horizon(12, 100, 10.2, 1.0, 10.0) == 12  # spent: the run stops now


class Toy(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(3))

    def forward(self, input_ids, attention_mask, labels):
        return ((self.w * input_ids.float() - labels.float()) ** 2).mean()


def _batch():
    x = torch.tensor([[1, 2, 3]])
    return {"input_ids": x, "attention_mask": torch.ones_like(x), "labels": 2 * x}


def _run_on_a_clock(step_seconds, budget_s, total_steps, warmup_steps=4):
    """The worker's loop on a simulated clock: a step takes `step_seconds(step)`; returns the loop
    and the rate of every step."""
    loop = TrainingLoop(Toy(), learning_rate=0.1, total_steps=total_steps, warmup_steps=warmup_steps)
    now = 0.0
    plan = BudgetPlan(budget_s, total_steps, started=now)
    rates = []
    while loop.step < total_steps:
        result = loop.train_step(_batch())
        rates.append(result.lr)
        now += step_seconds(result.step)
        loop.plan_horizon(plan.step_done(result.step, now))
        if budget_s and now >= budget_s:
            break
    return loop, rates


def test_a_budget_stopped_run_ends_with_the_rate_at_its_floor():
    # 100 steps planned, the budget allows about 30 (1 s a step, the first one 3 s: start-up).
    loop, rates = _run_on_a_clock(lambda step: 3.0 if step == 1 else 1.0, budget_s=32.5, total_steps=100)
    assert loop.step == 31 < 100
    assert loop.lr == 0.0  # the schedule reached its floor where the budget stopped the run
    assert rates[-1] < 0.01 * 0.1  # and the last step ran at (nearly) the floor
    assert max(rates) > 0.09  # the peak (the warm-up shrank with the horizon: 4 of 100 -> 1 of 31)
    decay = rates[rates.index(max(rates)):]
    assert all(later <= earlier for earlier, later in zip(decay, decay[1:]))  # no bump up


def test_a_slowdown_is_followed_and_the_stop_still_lands_at_the_floor():
    loop, rates = _run_on_a_clock(lambda step: 1.0 if step < 15 else 2.5, budget_s=40.0, total_steps=200)
    assert loop.step < 200 and loop.lr == 0.0
    assert rates[-1] < 0.1 * 0.1


def test_a_run_whose_steps_fit_the_budget_keeps_the_plain_schedule():
    with_budget, rates = _run_on_a_clock(lambda step: 1.0, budget_s=1000.0, total_steps=20)
    _none, plain_rates = _run_on_a_clock(lambda step: 1.0, budget_s=0.0, total_steps=20)
    plain = _plain_schedule("cosine", 4, 20)
    assert rates == plain_rates == [0.1 * plain(step) for step in range(20)]
    assert with_budget.schedule.horizon == 20


def test_the_planned_horizon_survives_a_checkpoint():
    loop = TrainingLoop(Toy(), learning_rate=0.1, total_steps=50, warmup_steps=0)
    for _ in range(3):
        loop.train_step(_batch())
    loop.plan_horizon(10)
    again = TrainingLoop(Toy(), learning_rate=0.1, total_steps=50, warmup_steps=0)
    again.load_state_dict(loop.state_dict())
    assert again.schedule.horizon == 10 and again.lr == loop.lr


def test_the_worker_stopped_by_its_budget_decays_to_the_floor(tiny_config, mlflow_tracking_uri, tmp_path,
                                                              monkeypatch):
    from deepsynth.training.report import ENV_JOB_DIR, read_report

    monkeypatch.setenv(ENV_JOB_DIR, str(tmp_path))
    config = tiny_config(max_steps=100_000, time_budget_s=4.0, eval_docs=0, warmup_steps=2,
                         checkpoint_every=100_000, measure_memory=False)
    run_id = train(config, progress=False)
    report = read_report(tmp_path)
    steps = report["step"]
    assert report["stopped_early"] and 3 < steps < 100_000
    assert report["lr_horizon"] == steps  # the schedule's end is where the budget stopped the run
    rates = [m.value for m in sorted(store.client_for(mlflow_tracking_uri).get_metric_history(run_id, "train/lr"),
                                     key=lambda m: m.step)]
    assert max(rates) == pytest.approx(config.learning_rate)
    assert rates[-1] < 0.25 * config.learning_rate  # the last steps ran near the floor
    latest = checkpoint.latest(config.run_root / run_id)
    _trainable, state, _ = checkpoint.load(latest)
    assert state["loop"]["scheduler"]["_last_lr"] == [0.0]  # where the next step would have been


def test_a_seeded_run_that_reaches_its_step_cap_is_unchanged_by_a_budget(tiny_config, mlflow_tracking_uri):
    client = store.client_for(mlflow_tracking_uri)

    def history(run_id, key):
        return [m.value for m in sorted(client.get_metric_history(run_id, key), key=lambda m: m.step)]

    plain = train(tiny_config(max_steps=6, eval_docs=0, warmup_steps=2), progress=False)
    budgeted = train(tiny_config(max_steps=6, eval_docs=0, warmup_steps=2, time_budget_s=3600.0), progress=False)
    assert history(budgeted, "train/lr") == history(plain, "train/lr")
    assert history(budgeted, "train/loss") == history(plain, "train/loss")
    expected = _plain_schedule("cosine", 2, 6)
    assert history(plain, "train/lr") == [pytest.approx(1e-3 * expected(step)) for step in range(6)]
