"""The step loop on a toy module: schedule, data order, NaN guard, state round trip."""

import pytest
import torch

from deepsynth.training.loop import DataOrder, NonFiniteLossError, TrainingLoop, lr_factor


class Toy(torch.nn.Module):
    """loss = mean((w * x - y)^2), with an optional NaN injected from a given call on."""

    def __init__(self, nan_from_call=None):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(3))
        self.frozen = torch.nn.Parameter(torch.ones(3), requires_grad=False)
        self.calls = 0
        self.nan_from_call = nan_from_call

    def forward(self, input_ids, attention_mask, labels):
        self.calls += 1
        loss = ((self.w * self.frozen * input_ids.float() - labels.float()) ** 2).mean()
        if self.nan_from_call is not None and self.calls >= self.nan_from_call:
            loss = loss * float("nan")
        return loss


def _batch():
    x = torch.tensor([[1, 2, 3]])
    return {"input_ids": x, "attention_mask": torch.ones_like(x), "labels": 2 * x}


def test_schedule_warms_up_then_decays_to_zero():
    cosine = lr_factor("cosine", warmup_steps=4, total_steps=14)
    assert [cosine(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert cosine(9) == pytest.approx(0.5)
    assert cosine(14) == pytest.approx(0.0)
    assert lr_factor("linear", 0, 10)(5) == pytest.approx(0.5)
    assert lr_factor("constant", 2, 10)(9) == 1.0


def test_data_order_is_a_seeded_pure_function_covering_each_epoch():
    order = DataOrder(10, 4, seed=3)
    epoch0 = [order.batch(s) for s in range(3)]
    assert [len(b) for b in epoch0] == [4, 4, 2]
    assert sorted(i for b in epoch0 for i in b) == list(range(10))
    assert order.batch(3) != epoch0[0] or order.batch(4) != epoch0[1]  # a new permutation per epoch
    again = DataOrder(10, 4, seed=3)
    assert [again.batch(s) for s in (5, 1, 0)] == [order.batch(5), order.batch(1), order.batch(0)]
    assert order.total_steps(0, 2.5) == 8 and order.total_steps(7, 2.5) == 7


def test_steps_train_only_trainable_parameters():
    model = Toy()
    loop = TrainingLoop(model, learning_rate=0.1, total_steps=20, schedule="constant")
    first = loop.train_step(_batch())
    for _ in range(19):
        last = loop.train_step(_batch())
    assert last.loss < first.loss / 10 and last.applied and loop.step == 20
    assert torch.equal(model.frozen, torch.ones(3))
    assert not torch.equal(model.w.detach(), torch.ones(3))
    assert first.grad_norm > 0 and first.samples == 1 and first.tokens == 3


def test_non_finite_loss_stops_within_patience_and_names_the_step():
    model = Toy(nan_from_call=4)
    loop = TrainingLoop(model, learning_rate=0.1, total_steps=20, nan_patience=3, schedule="constant")
    for _ in range(3):
        assert loop.train_step(_batch()).applied
    weights = model.w.detach().clone()
    with pytest.raises(NonFiniteLossError, match="at step 6") as caught:
        for _ in range(10):
            loop.train_step(_batch())
    assert caught.value.step == 6 and model.calls == 6
    assert torch.equal(model.w.detach(), weights)  # NaN steps were skipped, not applied


def test_state_round_trip_continues_identically():
    def fresh():
        model = Toy()
        return model, TrainingLoop(model, learning_rate=0.05, total_steps=10, warmup_steps=2)

    model, loop = fresh()
    straight = [loop.train_step(_batch()) for _ in range(10)][-1]
    straight_w = model.w.detach().clone()

    model, loop = fresh()
    for _ in range(4):
        loop.train_step(_batch())
    weights, state = model.state_dict(), loop.state_dict()
    model, loop = fresh()  # a new process: new objects, state loaded back
    model.load_state_dict(weights)
    loop.load_state_dict(state)
    resumed = [loop.train_step(_batch()) for _ in range(6)][-1]
    assert (resumed.step, resumed.lr, resumed.loss) == (straight.step, straight.lr, straight.loss)
    assert torch.equal(model.w.detach(), straight_w)
