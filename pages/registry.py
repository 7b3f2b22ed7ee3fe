"""Export & registry: package a run's adapter as a ZIP (or several in one archive), merge one into
its base, register it, move aliases, list versions with their scores, delete what is no longer
wanted.

Guardrails: pickers show each run's score (by its task's metric) and status; the register form
follows the run chosen for export; moving an alias (or registering with one) to a version that
scored worse asks first and says on how many documents both were scored
(deepsynth.tracking.alias_guard); deleting asks first, takes only what the pickers name (never a
typed prefix), refuses a version an alias points at, and is for admins when the dashboard has
sign-in (deepsynth.tracking.deletion, deepsynth.dashboard_host.roles). Fields are empty unless the
user filled them, and an action empties the alias it used, so the next one never moves it by
accident. Export and merge need torch: they run as `deepsynth export` / `deepsynth merge` in a
child process."""

from __future__ import annotations

import re

import streamlit as st

from deepsynth.errors import DeepSynthError
from deepsynth.export.bundle import default_bundle_path
from deepsynth.export.workspace_packages import default_package_path, workspace_packages
from deepsynth.inference.side_by_side import hub_bases
from deepsynth.names import check_alias, check_model_name
from deepsynth.sweeps.parent_run import trained_runs
from deepsynth.tracking import deletion, registry
from deepsynth.tracking.alias_guard import alias_move_warning, scored
from deepsynth.verb_runner import run_verb
from deepsynth.dashboard_host import roles
from ui import cached, hub_downloads, login, settings
from ui.form_memory import keep
from ui.widgets import run_label, run_picker, show_error

config = settings.load()
state = st.session_state
st.title("Export & registry")
keep(["registry.register.run", "registry.register.name", "registry.register.alias", "registry.alias.alias"])
for key in state.pop("registry.clear", []):  # fields an action used: empty again (before they are drawn)
    state[key] = ""
if flash := state.pop("registry.flash", None):  # a change made just before the rerun
    st.success(flash)
finished = [run for run in trained_runs(cached.runs(config.uri, None, ("FINISHED",)))
            if run.artifact_uri and not deletion.adapter_deleted(run.tags)]
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


def follow_bundle() -> None:
    """A new choice of runs for one archive: its path follows, unless the user typed one."""
    state["registry.bundle.out"] = str(default_bundle_path(state.get("registry.bundle.runs") or []))


def confirm(pending_key: str, warning: str, go_label: str, icon: str = ":material/trending_down:") -> bool | None:
    """A second look: True when confirmed, False when called off, None while undecided."""
    st.warning(warning, icon=icon)
    c1, c2, _ = st.columns([1.3, 1, 3])
    if c1.button(go_label, key=f"{pending_key}.yes", type="primary"):
        state.pop(pending_key, None)
        return True
    if c2.button("Cancel", key=f"{pending_key}.no"):
        state.pop(pending_key, None)
        st.rerun()
    return None


def acting_user() -> str | None:
    """Who an admin action is for: the signed-in user, or None (refused, message shown)."""
    user = login.signed_in_user()
    if not roles.may(user, roles.DELETE):
        st.error(roles.refusal(user, roles.DELETE))
        return None
    return user or f"{deletion.local_user()} (dashboard without sign-in)"


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
    b1, b2, _ = st.columns([1, 1.6, 3])
    if b1.button("Export", type="primary", key="registry.export.go") and (
            not merge or hub_downloads.fetch_all(hub_bases([run.run_id], config.uri))):  # a hub-id base: cached first
        args = ["--run", run.run_id, "--out", target, "--tracking-uri", config.uri] + (["--merge"] if merge else [])
        try:
            with st.spinner("Exporting (in a separate process)…"):
                run_verb("export", args)  # merge needs torch: never in the dashboard process
            st.success(f"Wrote `{target}`")
        except DeepSynthError as error:
            show_error(error)
    if b2.button("Merge into its base", key="registry.merge.go",
                 help="Writes the base model with this adapter folded in (16-bit) as a model folder in the "
                      "workspace's merged/ folder; it loads with from_pretrained.") and hub_downloads.fetch_all(
            hub_bases([run.run_id], config.uri)):  # a base named by hub id: in the cache first (the admin's switch)
        try:
            with st.spinner("Merging the adapter into its base (in a separate process)…"):
                done = run_verb("merge", ["--run", run.run_id, "--tracking-uri", config.uri])
            found = re.search(r"^merged into (.+?) \(", done.stdout, re.MULTILINE)
            st.success(f"Merged into `{found.group(1) if found else 'the merged folder'}`: load it with "
                       "`from_pretrained` on that folder.")
        except DeepSynthError as error:
            show_error(error)

with st.expander("Several adapters in one archive"):
    chosen_runs = st.multiselect("Runs to export together", list(by_run), key="registry.bundle.runs",
                                 format_func=lambda rid: run_label(by_run[rid]), on_change=follow_bundle,
                                 help="One package per run, stored side by side in one ZIP with bundle.json "
                                      "listing them; unpack it and import each package.")
    if "registry.bundle.out" not in state:
        follow_bundle()
    bundle_target = st.text_input("Archive file", key="registry.bundle.out")
    if st.button("Export archive", key="registry.bundle.go", disabled=len(chosen_runs) < 2,
                 help="Choose two runs or more."):
        args = [item for rid in chosen_runs for item in ("--run", rid)]
        try:
            with st.spinner(f"Packaging {len(chosen_runs)} adapters (in a separate process)…"):
                run_verb("export", [*args, "--out", bundle_target, "--tracking-uri", config.uri])
            st.success(f"Wrote `{bundle_target}` ({len(chosen_runs)} packages)")
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
run_values = {r.run_id: {**r.tags, **r.metrics} for r in cached.runs(config.uri, None, ("FINISHED",))}


def version_score(version):
    """A version's score: its tags (copied at registration), completed from its run where a version
    registered before intervals were copied lacks them."""
    return scored({**run_values.get(version.run_id, {}), **version.tags})


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
        now = next((v for v in adapter.versions if v.version == current), None) if current else None
        if now is None:
            return None
        return alias_move_warning(name.strip(), alias.strip(), current, version_score(now),
                                  f"run {run.run_name or run.run_id[:8]}", scored({**run.tags, **run.metrics}))

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
rows = []
for a in adapters:
    for v in a.versions:
        score = version_score(v)
        rows.append({"name": a.name, "version": int(v.version),
                     "aliases": ", ".join(sorted(alias for alias, number in a.aliases.items() if number == v.version)),
                     "metric": f"{score.label} ({score.direction} is better)", "score": score.mean,
                     "95% interval": score.interval or "—",
                     "documents": "—" if score.documents is None else str(score.documents),
                     "run name": v.tags.get("deepsynth.run_name", ""), "run_id": v.run_id,
                     "reference": registry.version_uri(a.name, v.version)})
if rows:
    st.dataframe(rows, hide_index=True, key="registry.table", width="stretch",
                 column_config={"score": st.column_config.NumberColumn("score", format="%.1f")})
    st.caption("Each version is scored by its task's metric (ROUGE-L for summaries, higher is better; CER "
               "for transcriptions, lower is better ...) on the documents counted beside it, with its 95% "
               "bootstrap interval.")

if by_name:
    st.markdown("**Set or move an alias**")
    c1, c2, c3 = st.columns(3)
    adapter = by_name[c1.selectbox("Adapter", list(by_name), key="registry.alias.name")]
    versions = {v.version: v for v in adapter.versions}
    version = c2.selectbox("Version", list(versions), key="registry.alias.version",
                           format_func=lambda v: f"{v} · {version_score(versions[v]).short()}"
                           f" · {versions[v].tags.get('deepsynth.run_name', '')}")
    new_alias = c3.text_input("Alias (e.g. champion)", key="registry.alias.alias")
    if adapter.aliases:
        c3.caption("Now: " + ", ".join(f"`{a}` → {v} ({version_score(versions[v]).short()})"
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
        if current not in versions:
            return None
        return alias_move_warning(adapter.name, new_alias.strip(), current, version_score(versions[current]),
                                  f"version {version}", version_score(versions[version]))

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

# -- delete -----------------------------------------------------------------------------------------
st.divider()
st.subheader("Delete")
st.caption("Deleting cannot be undone; each deletion is recorded with who and when. A version an alias "
           "points at is kept until the alias moves; a run's adapter is kept while a version is registered "
           "from it." + ("" if roles.may(login.signed_in_user(), roles.DELETE) else
                         " Only the dashboard's admins may delete."))
what = st.radio("What to delete", ["A registered version", "A run's adapter"], key="registry.delete.what",
                horizontal=True)
if what == "A registered version":
    if not by_name:
        st.info("Nothing registered yet.")
    else:
        c1, c2 = st.columns(2)
        doomed_name = c1.selectbox("Registered adapter", list(by_name), key="registry.delete.name")
        doomed_versions = {v.version: v for v in by_name[doomed_name].versions}
        aliases_of = {v: sorted(a for a, n in by_name[doomed_name].aliases.items() if n == v) for v in doomed_versions}
        doomed = c2.selectbox("Version", list(doomed_versions), key="registry.delete.version",
                              format_func=lambda v: f"{v} · {version_score(doomed_versions[v]).short()}"
                              + (f" · alias {', '.join(aliases_of[v])}" if aliases_of[v] else ""))
        pending = [doomed_name, doomed]
        if state.get("registry.delete.version.pending") not in (None, pending):
            state.pop("registry.delete.version.pending")
        if doomed and aliases_of.get(doomed):
            st.info(f"Alias {', '.join(f'`{a}`' for a in aliases_of[doomed])} points at version {doomed}: point it "
                    "at another version above (Set or move an alias) before deleting this one.")
        elif state.get("registry.delete.version.pending"):
            target = registry.version_uri(doomed_name, doomed)
            if confirm("registry.delete.version.pending", f"Delete {target} for good? The run keeps its adapter.",
                       "Delete this version", icon=":material/delete:"):
                if (who := acting_user()) is not None:
                    try:
                        record = deletion.delete_version(doomed_name, doomed, by=who, uri=config.uri)
                        cached.clear()
                        state["registry.flash"] = "D" + record.describe()[1:]
                        st.rerun()
                    except DeepSynthError as error:
                        show_error(error)
        elif st.button("Delete this version…", key="registry.delete.version.go"):
            if acting_user() is not None:  # refused before anything is asked
                state["registry.delete.version.pending"] = pending
                st.rerun()
else:
    doomed_run = run_picker(finished, key="registry.delete.run", label="Run whose adapter to delete",
                            help="The run, its scores and its evaluation stay; only its adapter/ files go.")
    if doomed_run is not None:
        registered = [registry.version_uri(a.name, v.version) for a in adapters for v in a.versions
                      if v.run_id == doomed_run.run_id]
        if state.get("registry.delete.run.pending") not in (None, doomed_run.run_id):
            state.pop("registry.delete.run.pending")
        if registered:
            st.info(f"This adapter is registered as {', '.join(f'`{r}`' for r in registered)}: delete those "
                    "versions first (a registered version is this adapter's files, not a copy).")
        elif state.get("registry.delete.run.pending"):
            if confirm("registry.delete.run.pending",
                       f"Delete the adapter of run {doomed_run.run_name or '(unnamed)'} ({doomed_run.run_id}) for good?",
                       "Delete the adapter", icon=":material/delete:"):
                if (who := acting_user()) is not None:
                    try:
                        record = deletion.delete_run_adapter(doomed_run.run_id, by=who, uri=config.uri)
                        cached.clear()
                        state["registry.flash"] = "D" + record.describe()[1:]
                        st.rerun()
                    except DeepSynthError as error:
                        show_error(error)
        elif st.button("Delete this run's adapter…", key="registry.delete.run.go"):
            if acting_user() is not None:  # refused before anything is asked
                state["registry.delete.run.pending"] = doomed_run.run_id
                st.rerun()
