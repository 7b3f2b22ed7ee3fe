"""Shared pieces of the dashboard: settings on disk, cached MLflow queries, widgets.

Pages import these as `ui.*` (Streamlit puts the entry script's folder, `dashboard/`, on sys.path).
Nothing here imports torch, transformers or peft.
"""
