"""DeepSynth dashboard: the entry script (`deepsynth dashboard`, or `streamlit run dashboard/app.py`).

A router over one page per job (st.navigation over st.Page), the settings in the sidebar, and the
running jobs under them. The dashboard is a client of the `deepsynth` library: pages gather input,
call one library function and show the result. It never imports torch, transformers or peft, and
never trains: training runs as a job subprocess (deepsynth.jobs).

Everything happens in `main()`, imports included: render worker processes (multiprocessing
"spawn", started by the Dataset page) re-run the main script as `__mp_main__`, and must neither
draw the app nor pay for its imports.
"""

from __future__ import annotations

from pathlib import Path

PAGES_DIR = Path(__file__).resolve().parent.parent / "pages"
PAGES = {  # section -> (file in pages/, title, Material icon)
    "Prepare": [("estimate.py", "Presets & estimate", "calculate"), ("dataset.py", "Dataset", "dataset")],
    "Train": [("train.py", "Train", "model_training"), ("compare.py", "Compare", "monitoring")],
    "Use": [("registry.py", "Export & registry", "inventory_2"), ("playground.py", "Playground", "science")],
}


def main() -> None:
    import streamlit as st

    from ui import cached, login, settings
    from ui.widgets import STATE_ICONS

    @login.fragment(run_every="5s")
    def running_jobs() -> None:
        """The jobs still running, on every page (they outlive a dashboard restart)."""
        from deepsynth.jobs import running_jobs as alive

        jobs = alive()
        if jobs:
            st.caption("Running jobs")
            for job in jobs:
                step = job.step if job.step is not None else "—"
                st.caption(f"{STATE_ICONS.get(job.state, '')} {job.job_id} · step {step}")

    st.set_page_config(page_title="DeepSynth", page_icon=":material/description:", layout="wide")
    sections = {
        section: [st.Page(PAGES_DIR / file, title=title, icon=f":material/{icon}:", url_path=Path(file).stem,
                          default=file == "estimate.py") for file, title, icon in pages]
        for section, pages in PAGES.items()}
    login.require_login(sections)  # before any page or navigation is drawn: signed out, nothing below runs
    navigation = st.navigation(sections)
    st.sidebar.markdown("### DeepSynth")
    cached.warm_up(settings.sidebar().uri)
    with st.sidebar:
        running_jobs()
    navigation.run()


if __name__ == "__main__":
    main()
