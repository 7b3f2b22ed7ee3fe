"""Comparing evaluated runs, one module per part; no mlflow and no streamlit in any of them.

- `run_tables`: pandas tables over `RunSummary` objects (params that differ, final metrics,
  estimated vs measured memory, scores with intervals, paired differences, sweep frames, tag filters).
- `runs`: `compare_runs(...) -> RunComparison`, one comparison as the Compare page, its export and
  `deepsynth compare` show it.
- `charts`: the plotly figures (one colour per run everywhere).
- `report`: the export (tables as a CSV ZIP, one self-contained HTML report).
- `text_table`: `deepsynth compare`'s rows and text table (refuses runs on other documents).
"""
