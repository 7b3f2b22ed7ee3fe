"""Models named by hub id on the dashboard (issue 20, item 3): read from the Hugging Face cache; a
download happens only when an admin has turned on **Allow model downloads** (the sidebar's
settings, saved in dashboard.json), with a progress bar. Off, every page that would download
names what is missing, that an admin can allow downloads, and the `hf download` command.

The cache is a real HF cache layout (`models--ORG--NAME/snapshots/COMMIT`, `refs/main`) holding a
tiny VLM; "online" tests never reach the network: the download itself is replaced by a function
that leaves the files in the cache, as `snapshot_download` would."""

from __future__ import annotations

import json
import threading

import pytest
from dashboard_testing import APP, texts

from deepsynth.estimate.this_machine import Machine

CPU = Machine("cpu", 2)
OTHER = "another folder, config.json or hub id…"
HUB_ID = "acme/tiny-qwen"
COMMIT = "c0ffee" * 6 + "c0ff"


def _hub_cache(tmp_path, monkeypatch, offline):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", offline)
    return tmp_path / "hub" / "models--acme--tiny-qwen"


def _cache_tiny_vlm(repo):
    from deepsynth.models.vlm.tiny import build_tiny_vlm

    folder = build_tiny_vlm("qwen2_5_vl", repo / "snapshots" / COMMIT)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(COMMIT)
    return folder


@pytest.fixture
def fake_download(tmp_path, monkeypatch):
    """The hub, as far as the dashboard can tell: `model_files` fills the cache and reports progress."""
    import deepsynth.hub_models as hub_models

    repo = _hub_cache(tmp_path, monkeypatch, offline=False)
    heard = []
    real = hub_models.model_files

    def download(name, progress=None):
        if hub_models.cached_snapshot(name) is None:
            failed = []

            def report():
                try:
                    progress(50, 100)
                    progress(100, 100)
                except BaseException as error:  # noqa: BLE001 -- e.g. drawing from a thread: NoSessionContext
                    failed.append(error)

            reporter = threading.Thread(target=report)
            reporter.start()  # as huggingface_hub does: progress heard on a thread of its own
            reporter.join()
            if failed:
                raise failed[0]
            heard.append(name)
            _cache_tiny_vlm(repo)
        return real(name)

    monkeypatch.setattr(hub_models, "model_files", download)
    return heard


def saved_settings(workspace) -> dict:
    path = workspace / "workspace" / "dashboard.json"
    return json.loads(path.read_text()) if path.exists() else {}


def signed_in(workspace, monkeypatch, user: str, page: str):
    """The app with a password login, `user` signed in (the admin is `root`), on `page`."""
    from streamlit.testing.v1 import AppTest

    from deepsynth.dashboard_host import roles
    from deepsynth.dashboard_host import users as dashboard_auth

    users = workspace / "private" / "users.json"
    for name in ("alice", "root"):
        dashboard_auth.add_user(users, name, f"{name} horse battery staple")
    monkeypatch.setenv(dashboard_auth.USERS_FILE_ENV, str(users))
    monkeypatch.setenv(roles.ADMINS_ENV, "root")
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.session_state["deepsynth.machine"] = CPU
    app.run()
    app.text_input(key="login.user").input(user)
    app.text_input(key="login.password").input(f"{user} horse battery staple")
    app.button[0].click().run()
    app.switch_page(f"../pages/{page}.py").run()
    assert not app.exception, app.exception
    return app


def hub_id_on_estimate(app, name=HUB_ID):
    app.selectbox(key="estimate.model").set_value(OTHER).run()
    app.text_input(key="estimate.model_path").set_value(name).run()
    assert not app.exception, app.exception
    return app


# -- the setting: one switch, only an admin changes it -----------------------------------------------
def test_downloads_are_off_until_allowed_and_the_estimate_page_says_what_is_missing(
        open_page, workspace, tmp_path, monkeypatch, fake_download):
    _hub_cache(tmp_path, monkeypatch, offline=False)
    app = hub_id_on_estimate(open_page("estimate", **{"deepsynth.machine": CPU}))
    assert app.checkbox(key="settings.allow_downloads").value is False
    refusal = [error.value for error in app.error if HUB_ID in error.value]
    assert len(refusal) == 1, texts(app)
    assert refusal[0].startswith(f"**{HUB_ID}** is not in this machine's Hugging Face cache")
    assert "holds no snapshot of 'acme/tiny-qwen' at revision 'main'" in refusal[0]
    assert "only when an admin turns on **Allow model downloads** (sidebar → Settings)" in refusal[0]
    assert f"`hf download {HUB_ID}`" in refusal[0]
    assert not [b for b in app.button if b.key == "estimate.download"] and not app.metric
    assert fake_download == []  # nothing fetched


def test_without_sign_in_the_local_user_is_the_admin_and_downloads_with_a_progress_bar(
        open_page, workspace, tmp_path, monkeypatch, fake_download):
    app = open_page("estimate", **{"deepsynth.machine": CPU})
    switch = app.checkbox(key="settings.allow_downloads")
    assert not switch.disabled
    switch.check().run()
    assert saved_settings(workspace)["allow_downloads"] is True
    hub_id_on_estimate(app)
    assert "not in your Hugging Face cache yet" in texts(app) and not app.metric  # nothing fetched unasked
    app.button(key="estimate.download").click().run()
    assert fake_download == [HUB_ID] and not app.exception
    assert "**Qwen2.5-VL**, a native vision-language model" in texts(app) and app.metric
    reopened = open_page("estimate", **{"deepsynth.machine": CPU})  # saved: a new session finds it on
    assert reopened.checkbox(key="settings.allow_downloads").value is True


def test_a_member_cannot_allow_downloads(workspace, monkeypatch):
    from deepsynth.dashboard_host import roles

    app = signed_in(workspace, monkeypatch, "alice", "estimate")
    switch = app.checkbox(key="settings.allow_downloads")
    assert switch.disabled and switch.value is False
    switch.proto.disabled = False  # as a crafted request would send it: Streamlit drops a disabled widget's change
    switch.check().run()
    assert not app.exception and saved_settings(workspace).get("allow_downloads") is not True
    assert app.checkbox(key="settings.allow_downloads").value is False
    # the rule is asked when the switch changes, not when it was drawn: an admin no longer is one
    admin = signed_in(workspace, monkeypatch, "root", "estimate")
    assert not admin.checkbox(key="settings.allow_downloads").disabled
    monkeypatch.setenv(roles.ADMINS_ENV, "someone-else")
    admin.checkbox(key="settings.allow_downloads").check().run()
    assert "root may not allow download: only the dashboard's admins may" in admin.sidebar.error[0].value
    assert saved_settings(workspace).get("allow_downloads") is not True
    assert admin.checkbox(key="settings.allow_downloads").value is False


def test_an_admin_allows_downloads_and_a_member_sees_it_on(workspace, monkeypatch):
    admin = signed_in(workspace, monkeypatch, "root", "estimate")
    assert not admin.checkbox(key="settings.allow_downloads").disabled
    admin.checkbox(key="settings.allow_downloads").check().run()
    assert saved_settings(workspace)["allow_downloads"] is True
    member = signed_in(workspace, monkeypatch, "alice", "estimate")
    assert member.checkbox(key="settings.allow_downloads").value is True
    switch = member.checkbox(key="settings.allow_downloads")
    switch.proto.disabled = False  # as a crafted request would
    switch.uncheck().run()
    assert saved_settings(workspace)["allow_downloads"] is True  # a member cannot turn it off either


# -- the Train page's model picker ---------------------------------------------------------------------
def open_train(open_page, fake_spawn):
    return open_page("train", **{"deepsynth.spawn": fake_spawn, "deepsynth.machine": CPU,
                                 "deepsynth.load_average": 0.0})


def test_the_train_page_shows_a_cached_hub_ids_family_and_vision_tokens(
        open_page, datasets_setting, fake_spawn, tmp_path, monkeypatch):
    from deepsynth.configuration import from_dict
    from deepsynth.estimate import vision_tokens_per_page
    from deepsynth.render.config import RenderConfig

    folder = _cache_tiny_vlm(_hub_cache(tmp_path, monkeypatch, offline=True))
    app = open_train(open_page, fake_spawn)
    app.text_input(key="train.cfg.model.name").set_value(HUB_ID).run()
    assert not app.exception, app.exception
    metadata = json.loads((datasets_setting / "deepsynth_dataset.json").read_text())
    render = from_dict(RenderConfig, metadata["dataset_config"]["render"])
    width, height = render.output_size
    tokens = vision_tokens_per_page(folder, width, height)
    assert (f"**Qwen2.5-VL**, a native vision-language model: {tokens} vision tokens per {width}x{height} page"
            in texts(app)), texts(app)
    assert [b for b in app.button if b.key == "train.start"]
    app.text_input(key="train.cfg.model.name").set_value("acme/absent").run()  # offline, not cached: named
    assert "holds no snapshot of 'acme/absent'" in texts(app)
    assert not [b for b in app.button if b.key == "train.start"]


def test_the_train_page_refuses_a_hub_id_to_download_while_downloads_are_off(
        open_page, datasets_setting, fake_spawn, workspace, fake_download):
    app = open_train(open_page, fake_spawn)
    app.text_input(key="train.cfg.model.name").set_value(HUB_ID).run()
    assert "an admin turns on **Allow model downloads**" in texts(app)
    assert not [b for b in app.button if b.key in ("train.start", "train.download")]
    app.checkbox(key="settings.allow_downloads").check().run()  # the local user is the admin
    app.button(key="train.download").click().run()
    assert fake_download == [HUB_ID] and not app.exception
    assert "**Qwen2.5-VL**, a native vision-language model" in texts(app)
    app.button(key="train.start").click().run()
    assert len(fake_spawn.calls) == 1


# -- the Playground on an adapter whose base is a hub id the cache lacks ----------------------------
@pytest.fixture
def hub_base_run(store, tmp_path):
    """A finished run whose adapter's card names a pinned hub id as its base."""
    from dashboard_testing import write_fake_adapter

    from deepsynth.tracking.store import RunLogger

    adapter = write_fake_adapter(tmp_path / "adapter")
    (adapter / "deepsynth_model.json").write_text(json.dumps({"model_config": {"name": f"{HUB_ID}@{COMMIT}"}}))
    logger = RunLogger.start("dashboard-hub-base", run_name="hub-base", uri=store.uri)
    logger.log_metrics({"eval/rougeL": 10.0}, step=1, flush=True)
    logger.log_artifacts(adapter, "adapter")
    logger.finish()
    return logger.run_id


def test_the_playground_fetches_a_cards_hub_base_only_when_downloads_are_allowed(
        open_page, workspace, hub_base_run, fake_download, monkeypatch):
    from deepsynth.inference import playground_client

    started = []
    monkeypatch.setattr(playground_client, "summarize_each",
                        lambda adapters, on_event, **kwargs: started.append(list(adapters)) or {})
    app = open_page("playground", **{"playground.adapters": [hub_base_run]})
    assert app.multiselect(key="playground.adapters").value == [hub_base_run]
    app.button(key="playground.go").click().run()
    refusal = [error.value for error in app.error if HUB_ID in error.value]
    assert len(refusal) == 1 and f"`hf download {HUB_ID} --revision {COMMIT}`" in refusal[0], texts(app)
    assert "an admin turns on **Allow model downloads**" in refusal[0]
    assert started == [] and fake_download == []  # nothing loads, nothing is fetched
    app.checkbox(key="settings.allow_downloads").check().run()
    app.button(key="playground.go").click().run()
    assert not app.exception, app.exception
    assert fake_download == [f"{HUB_ID}@{COMMIT}"] and started == [[hub_base_run]]
    assert not [error for error in app.error if HUB_ID in error.value]


def test_merging_a_run_on_a_hub_base_the_cache_lacks_is_refused_while_downloads_are_off(
        open_page, workspace, hub_base_run, fake_download, monkeypatch):
    from deepsynth import verb_runner

    ran = []
    monkeypatch.setattr(verb_runner, "run_verb", lambda verb, args, *rest, **kw: ran.append(verb))
    app = open_page("registry")
    app.selectbox(key="registry.export.run").set_value(hub_base_run).run()
    app.button(key="registry.merge.go").click().run()
    assert not app.exception and ran == [] and fake_download == []
    assert [error for error in app.error if "an admin turns on **Allow model downloads**" in error.value]


def test_the_estimate_page_shows_a_cached_hub_ids_family_and_vision_tokens(
        open_page, workspace, tmp_path, monkeypatch):
    from deepsynth.estimate import vision_tokens_per_page
    from deepsynth.render.config import RenderConfig

    folder = _cache_tiny_vlm(_hub_cache(tmp_path, monkeypatch, offline=True))
    app = hub_id_on_estimate(open_page("estimate", **{"deepsynth.machine": CPU}))
    width, height = RenderConfig().output_size
    tokens = vision_tokens_per_page(folder, width, height)
    assert (f"**Qwen2.5-VL**, a native vision-language model: {tokens} vision tokens per {width}x{height} page"
            in texts(app)), texts(app)
    app.text_input(key="estimate.model_path").set_value(f"{HUB_ID}@{COMMIT}").run()  # pinned: the same files
    assert f"{tokens} vision tokens per {width}x{height} page" in texts(app) and app.metric
    app.text_input(key="estimate.model_path").set_value(f"{HUB_ID}@0123456").run()  # a revision not cached
    assert "holds no snapshot of 'acme/tiny-qwen' at revision '0123456'" in texts(app)
