"""MLflow, and only here: run logging (`store`), queries for the dashboard (`queries`), the model
registry (`registry`).

Nothing else in `deepsynth/` imports mlflow. This package's `__init__` stays light (no mlflow
import) so that `deepsynth.jobs` and the CLI can import it cheaply; import the submodules.
"""
