"""The Train page's eval split: auto (test when the dataset has one) by default, each option with
the documents it holds, and the choice travels with the job's config."""

from dashboard_testing import started_config


def test_eval_split_defaults_to_auto_shows_sizes_and_travels(open_page, datasets_setting, fake_spawn):
    app = open_page("train", **{"deepsynth.spawn": fake_spawn})
    split = app.selectbox(key="train.cfg.eval_split")
    assert split.value == "auto"
    # the 6-document dataset holds 4 train, 1 validation, 1 test documents: auto means test
    assert split.options == ["auto (1 docs)", "test (1 docs)", "validation (1 docs)", "train (4 docs)"]
    split.set_value("validation")
    app.number_input(key="train.cfg.eval_docs").set_value(3)
    app.selectbox(key="train.preset").set_value("minimal").run()
    app.button(key="train.start").click().run()
    assert not app.exception and "Started job" in app.success[0].value
    started = started_config(fake_spawn.calls[0])
    assert (started.eval_split, started.eval_docs) == ("validation", 3)
