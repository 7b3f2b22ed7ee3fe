"""Export & registry: package a run's adapter as a ZIP, register it, move aliases, list versions.

Guardrails: pickers show each run's score and status; the register form follows the run chosen
for export; moving an alias (or registering with one) to a version that scored lower asks first
(deepsynth.tracking.alias_guard); fields are empty unless the user filled them, and an action
empties the alias it used, so the next one never moves it by accident."""

from __future__ import annotations

import streamlit as st

from deepsynth.errors import DeepSynthError
from deepsynth.export.workspace_packages import default_package_path, workspace_packages
from deepsynth.names import check_alias, check_model_name
from deepsynth.sweeps.parent_run import trained_runs
from deepsynth.tracking import registry
from deepsynth.tracking.alias_guard import lower_score_warning, score_of, score_text
from deepsynth.verb_runner import run_verb
from deepsynth.dashboard_host import roles
from ui import cached, login, settings
from ui.form_memory import keep
from ui.widgets import run_picker, show_error

config = settings.load()
state = st.session_state
st.title("Export & registry")
keep(["registry.register.run", "registry.register.name", "registry.register.alias", "registry.alias.alias"])
for key in state.pop("registry.clear", []):  # fields an action used: empty again (before they are drawn)
    state[key] = ""
if flash := state.pop("registry.flash", None):  # a change made just before the rerun
    st.success(flash)
finished = [run for run in trained_runs(cached.runs(config.uri, None, ("FINISHED",))) if run.artifact_uri]
by_run = {run.run_id: run for run in finished}


def checked(check, value: str, where, empty: str) -> bool:
    """Run a name check; show its message (or `empty` for an empty field) right under the field."""
    if not value:
        where.error(empty)
        return False
    try:
        check(value)
        return True
    except DeepSynthError as error:
        where.error(str(error))
        return False


def package_path(run) -> str:
    """Where a run's package is written unless the user types another path."""
    return str(default_package_path(run.run_name, run.run_id))


def register_follows_export() -> None:
    """The register form starts on the run chosen for export (it can still be changed)."""
    if state.get("registry.export.run") in by_run:
        state["registry.register.run"] = state["registry.export.run"]


def follow_export() -> None:
    """A new run chosen for export: the register form and the package path follow it."""
    register_follows_export()
    if state.get("registry.export.run") in by_run:
        state["registry.export.out"] = package_path(by_run[state["registry.export.run"]])


def confirm(pending_key: str, warning: str, go_label: str) -> bool | None:
    """A second look: True when confirmed, False when called off, None while undecided."""
    st.warning(warning, icon=":material/trending_down:")
    c1, c2, _ = st.columns([1.3, 1, 3])
    if c1.button(go_label, key=f"{pending_key}.yes", type="primary"):
        state.pop(pending_key, None)
        return True
    if c2.button("Cancel", key=f"{pending_key}.no"):
        state.pop(pending_key, None)
        st.rerun()
    return None


# -- export -----------------------------------------------------------------------------------------
st.subheader("Export a package")
run = run_picker(finished, key="registry.export.run", label="Finished run", on_change=follow_export)
if run is not None:
    if not state.get("registry.export.out"):
        state["registry.export.out"] = package_path(run)
    c1, c2 = st.columns([3, 2])
    target = c1.text_input("Package file", key="registry.export.out")
    merge = c2.checkbox("Include a merged 16-bit decoder", key="registry.export.merge",
                        help="Adds merged/ (the base with the adapter folded in); slower and larger.")
    if st.button("Export", type="primary", key="registry.export.go"):
        args = ["--run", run.run_id, "--out", target, "--tracking-uri", config.uri] + (["--merge"] if merge else [])
        try:
            with st.spinner("Exporting (in a separate process)…"):
                run_verb("export", args)  # merge needs torch: never in the dashboard process
            st.success(f"Wrote `{target}`")
        except DeepSynthError as error:
            show_error(error)

packages = {str(package.path): package for package in workspace_packages()}
if packages:
    chosen = packages[st.selectbox("Packages in the workspace", list(packages), key="registry.packages",
                                   format_func=lambda p: f"{packages[p].path.name} · {packages[p].size_bytes / 1e6:.1f} MB")]
    st.download_button("Download", data=chosen.path.read_bytes, file_name=chosen.path.name,  # read on click
                       mime="application/zip", key="registry.download")

# -- register ---------------------------------------------------------------------------------------
st.divider()
st.subheader("Register an adapter")
adapters = cached.adapters(config.uri)
by_name = {a.name: a for a in adapters}
if "registry.register.run" not in state or state["registry.register.run"] not in by_run:
    register_follows_export()
run = run_picker(finished, key="registry.register.run", label="Run whose adapter to register",
                 help="Follows the run chosen for export above.")
if run is not None:
    c1, c2 = st.columns(2)
    name = c1.text_input("Registered model name (e.g. wiki-summarizer)", key="registry.register.name",
                         help="A new name creates a registered model; an existing one gets a new version.")
    name_slot = c1.empty()  # its error goes right under the field
    if by_name:
        c1.caption("Existing: " + ", ".join(f"`{n}`" for n in by_name))
    alias = c2.text_input("Alias (optional, e.g. champion)", key="registry.register.alias",
                          help="Points this alias at the new version (moving it if it is set).")
    alias_slot = c2.empty()

    def register() -> None:
        version = registry.register_adapter(run.run_id, name.strip(), alias=alias.strip() or None, uri=config.uri)
        cached.clear()
        state["registry.clear"] = ["registry.register.alias"]
        state["registry.flash"] = (f"Registered **{version.name}** version {version.version}"
                                   + (f" as `{alias.strip()}`" if alias.strip() else ""))
        st.rerun()

    def register_warning() -> str | None:
        adapter = by_name.get(name.strip())
        current = adapter.aliases.get(alias.strip()) if adapter is not None and alias.strip() else None
        tags = next((v.tags for v in adapter.versions if v.version == current), None) if current else None
        return lower_score_warning(name.strip(), alias.strip(), current, score_of(tags),
                                   f"run {run.run_name or run.run_id[:8]}", score_of(run.metrics))

    def register_now() -> None:
        if alias.strip() and not roles.may(user := login.signed_in_user(), roles.MOVE_ALIAS):
            return st.error(roles.refusal(user, roles.MOVE_ALIAS))
        try:
            register()
        except DeepSynthError as error:
            show_error(error)

    asked = [run.run_id, name.strip(), alias.strip()]
    if state.get("registry.register.pending") not in (None, asked):
        state.pop("registry.register.pending")  # the form changed since: ask again on the next click
    if state.get("registry.register.pending"):
        if confirm("registry.register.pending", register_warning(), "Register and move the alias"):
            register_now()
    elif st.button("Register", type="primary", key="registry.register.go"):
        ok = checked(check_model_name, name.strip(), name_slot, "Give the registered model a name.")
        ok = (not alias.strip() or checked(check_alias, alias.strip(), alias_slot, "")) and ok
        if ok and register_warning():
            state["registry.register.pending"] = asked
            st.rerun()
        if ok:
            register_now()

# -- registered adapters and aliases ----------------------------------------------------------------
st.divider()
st.subheader("Registered adapters")
if not adapters:
    st.info("Nothing registered yet.")
    st.stop()
rows = [{"name": a.name, "version": int(v.version),
         "aliases": ", ".join(sorted(alias for alias, number in a.aliases.items() if number == v.version)),
         "rougeL": score_of(v.tags), "run name": v.tags.get("deepsynth.run_name", ""), "run_id": v.run_id,
         "reference": registry.version_uri(a.name, v.version)} for a in adapters for v in a.versions]
st.dataframe(rows, hide_index=True, key="registry.table", width="stretch",
             column_config={"rougeL": st.column_config.NumberColumn("ROUGE-L", format="%.1f")})

st.markdown("**Set or move an alias**")
c1, c2, c3 = st.columns(3)
adapter = by_name[c1.selectbox("Adapter", list(by_name), key="registry.alias.name")]
versions = {v.version: v for v in adapter.versions}
version = c2.selectbox("Version", list(versions), key="registry.alias.version",
                       format_func=lambda v: f"{v} · {score_text(score_of(versions[v].tags))}"
                       f" · {versions[v].tags.get('deepsynth.run_name', '')}")
new_alias = c3.text_input("Alias (e.g. champion)", key="registry.alias.alias")
if adapter.aliases:
    c3.caption("Now: " + ", ".join(f"`{a}` → {v} ({score_text(score_of(versions[v].tags))})"
                                   for a, v in sorted(adapter.aliases.items()) if v in versions))
alias_slot = c3.empty()


def move_alias(target_alias: str, target_version: str) -> None:
    if not roles.may(user := login.signed_in_user(), roles.MOVE_ALIAS):
        return st.error(roles.refusal(user, roles.MOVE_ALIAS))
    moved_from = adapter.aliases.get(target_alias)
    try:
        registry.set_alias(adapter.name, target_version, target_alias, uri=config.uri)
    except DeepSynthError as error:
        show_error(error)
        return
    cached.clear()
    state["registry.clear"] = ["registry.alias.alias"]
    state["registry.flash"] = (f"{adapter.name}@{target_alias} → version {target_version}"
                               + (f" (was version {moved_from})" if moved_from and moved_from != target_version else ""))
    st.rerun()


def alias_warning() -> str | None:
    current = adapter.aliases.get(new_alias.strip())
    return lower_score_warning(adapter.name, new_alias.strip(), current,
                               score_of(versions[current].tags) if current in versions else None,
                               f"version {version}", score_of(versions[version].tags))


asked = [adapter.name, version, new_alias.strip()]
if state.get("registry.alias.pending") not in (None, asked):
    state.pop("registry.alias.pending")  # the choice changed since: ask again on the next click
if state.get("registry.alias.pending"):
    if confirm("registry.alias.pending", alias_warning(), "Move it anyway"):
        move_alias(new_alias.strip(), version)
elif st.button("Point alias at this version", key="registry.alias.go"):
    if checked(check_alias, new_alias.strip(), alias_slot, "Name the alias to set (e.g. champion)."):
        if alias_warning():
            state["registry.alias.pending"] = asked
            st.rerun()
        move_alias(new_alias.strip(), version)
