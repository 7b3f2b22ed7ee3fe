"""Compare: which run is better, and why? Scores with intervals and document counts against
baselines that need no training, paired differences against a reference run, curves beside the
params that differ, every held-out document side by side, sweeps, and an export."""

from __future__ import annotations

import streamlit as st

from ui import compare_documents, compare_sweep, compare_view, compression, settings

config = settings.load()
st.title("Compare runs")
st.caption("Scores carry a 95% bootstrap interval over documents and the number of documents (n); baselines "
           "need no training and were chosen on the train split.")

found, chosen = compare_view.pick_runs(config.uri)
reference = compare_view.pick_reference(chosen)
comparison = compare_view.build(config.uri, chosen, reference)
links = compare_view.mlflow_ui_base(config.uri, config.mlflow_ui_url)

compare_view.scores(comparison, links)
compare_view.curves_and_params(config.uri, comparison)
documents = compare_documents.view(comparison)
compare_sweep.view(found)
# More views of the same runs go here, each a `dashboard/ui/*.py` module, before memory and the export.
if compression.is_render_sweep(chosen):  # a render sweep: summary quality against compression
    compression.show(chosen)
compare_view.memory(chosen)
compare_view.all_final_metrics(chosen, links)
compare_view.export(comparison, documents)
