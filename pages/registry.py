"""Export & registry: package a run's adapter as a ZIP, register it, move aliases, list versions."""

from __future__ import annotations

import re
from pathlib import Path

import streamlit as st

from deepsynth import paths
from deepsynth.errors import DeepSynthError
from deepsynth.names import check_alias, check_model_name
from deepsynth.tracking import registry
from deepsynth.verb_runner import run_verb
from ui import cached, settings
from ui.widgets import run_picker, show_error

config = settings.load()
exports = paths.exports_dir()
st.title("Export & registry")
if flash := st.session_state.pop("registry.flash", None):  # a change made just before the rerun
    st.success(flash)
finished = [run for run in cached.runs(config.uri, None, ("FINISHED",)) if run.artifact_uri]


def checked(check, value: str, where) -> bool:
    """Run a name check; show its message right under the field and say whether it passed."""
    try:
        check(value)
        return True
    except DeepSynthError as error:
        where.error(str(error))
        return False


# -- export -----------------------------------------------------------------------------------------
st.subheader("Export a package")
run = run_picker(finished, key="registry.export.run", label="Finished run")
if run is not None:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", run.run_name or "adapter").strip("-") or "adapter"
    c1, c2 = st.columns([3, 1])
    target = c1.text_input("Package file", value=str(exports / f"{stem}-{run.run_id[:8]}.zip"),
                           key=f"registry.export.out.{run.run_id}")
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

packages = sorted(exports.glob("*.zip"), key=lambda p: p.stat().st_mtime, reverse=True) if exports.is_dir() else []
if packages:
    chosen = st.selectbox("Packages in the workspace", packages, key="registry.packages",
                          format_func=lambda p: f"{p.name} · {p.stat().st_size / 1e6:.1f} MB")
    st.download_button("Download", data=Path(chosen).read_bytes, file_name=Path(chosen).name,  # read on click
                       mime="application/zip", key="registry.download")

# -- register ---------------------------------------------------------------------------------------
st.divider()
st.subheader("Register an adapter")
run = run_picker(finished, key="registry.register.run", label="Run whose adapter to register")
if run is not None:
    c1, c2 = st.columns(2)
    name = c1.text_input("Registered model name", key="registry.register.name", placeholder="wiki-summarizer")
    name_slot = c1.empty()
    alias = c2.text_input("Alias (optional)", key="registry.register.alias", placeholder="champion")
    alias_slot = c2.empty()
    if st.button("Register", type="primary", key="registry.register.go"):
        ok = checked(check_model_name, name.strip(), name_slot)
        ok = (not alias.strip() or checked(check_alias, alias.strip(), alias_slot)) and ok
        if ok:
            try:
                version = registry.register_adapter(run.run_id, name.strip(), alias=alias.strip() or None,
                                                    uri=config.uri)
                cached.clear()
                st.success(f"Registered **{version.name}** version {version.version}"
                           + (f" as `{alias.strip()}`" if alias.strip() else ""))
            except DeepSynthError as error:
                show_error(error)

# -- registered adapters and aliases ----------------------------------------------------------------
st.divider()
st.subheader("Registered adapters")
adapters = cached.adapters(config.uri)
if not adapters:
    st.info("Nothing registered yet.")
    st.stop()
rows = [{"name": a.name, "version": int(v.version),
         "aliases": ", ".join(sorted(alias for alias, number in a.aliases.items() if number == v.version)),
         "run_id": v.run_id, "rougeL": v.tags.get("eval/rougeL", ""), "run name": v.tags.get("deepsynth.run_name", ""),
         "reference": f"models:/{a.name}/{v.version}"} for a in adapters for v in a.versions]
st.dataframe(rows, hide_index=True, key="registry.table")

st.markdown("**Set or move an alias**")
by_name = {a.name: a for a in adapters}
c1, c2, c3 = st.columns(3)
adapter = by_name[c1.selectbox("Adapter", list(by_name), key="registry.alias.name")]
version = c2.selectbox("Version", [v.version for v in adapter.versions], key="registry.alias.version")
new_alias = c3.text_input("Alias", value="champion", key="registry.alias.alias")
alias_slot = c3.empty()
if st.button("Point alias at this version", key="registry.alias.go"):
    if checked(check_alias, new_alias.strip(), alias_slot):
        moved_from = adapter.aliases.get(new_alias.strip())
        try:
            registry.set_alias(adapter.name, version, new_alias.strip(), uri=config.uri)
        except DeepSynthError as error:
            show_error(error)
        else:
            cached.clear()
            st.session_state["registry.flash"] = (
                f"{adapter.name}@{new_alias.strip()} → version {version}"
                + (f" (was version {moved_from})" if moved_from and moved_from != version else ""))
            st.rerun()
