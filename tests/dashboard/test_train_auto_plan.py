"""`auto` warm-up and checkpoint intervals resolve the same way wherever a run is described: the
CLI, the Train page (what it shows and what its job runs) and a sweep point give one plan for the
same inputs (training.step_plan.resolve_automatic, the one place `auto` becomes a number)."""

from dashboard_testing import started_config, texts

from deepsynth.training.cli import parse_train_args
from deepsynth.training.step_plan import resolved_plan


def test_cli_dashboard_and_sweep_point_resolve_one_plan(open_page, datasets_setting, fake_spawn):
    from deepsynth.sweeps.grid import parse_axes
    from deepsynth.sweeps.plan import plan_sweep, point_config

    dataset = str(datasets_setting)
    cli_config, _ = parse_train_args(["--dataset", dataset, "--batch-size", "2", "--epochs", "3"])
    cli = resolved_plan(cli_config)
    assert cli_config.warmup_steps == "auto" and cli["warmup_steps"] < 10  # a short run: a short warm-up

    app = open_page("train", **{"deepsynth.spawn": fake_spawn})
    app.number_input(key="train.cfg.batch_size").set_value(2)
    app.number_input(key="train.cfg.epochs").set_value(3.0).run()
    shown = f"**{cli['steps']} steps** · warmup {cli['warmup_steps']} · checkpoint every {cli['checkpoint_every']}"
    assert shown in texts(app)
    app.button(key="train.start").click().run()
    dashboard = resolved_plan(started_config(fake_spawn.calls[0]))  # what the dashboard's job runs

    base, _ = parse_train_args(["--dataset", dataset, "--epochs", "3"])
    plan = plan_sweep(base, parse_axes(["batch_size=2,4"]))
    point = resolved_plan(point_config(base, plan.points[0], dataset, "s1", 0))
    assert cli == dashboard == point
