"""Finished runs of a render sweep in a tracking store of their own, as the worker records them
(tags `deepsynth.sweep` and `deepsynth.render`, `compression/...` and ROUGE-L metrics with an
interval), for the Compare page's compression chart. A store of their own: newer finished runs in
the session's shared store would change which runs other Compare-page tests see preselected."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

import pytest

EXPERIMENT = "dashboard-render-sweep"
# font size -> (compression ratio, chars per page, ROUGE-L, interval half-width)
POINTS = {28: (0.95, 420.0, 31.0, 2.5), 22: (1.02, 690.0, 33.5, 2.0), 14: (1.40, 1650.0, 24.0, 3.0)}


def log_render_sweep(uri: str) -> str:
    """Three finished runs of one new render sweep (font sizes 28, 22, 14) and the sweep's parent run
    (as `deepsynth sweep` makes it: same sweep tag, no scores); returns the sweep id."""
    from deepsynth.render import RenderConfig
    from deepsynth.configuration import to_dict
    from deepsynth.tracking.store import RunLogger

    sweep_id = f"sweep-test-{secrets.token_hex(3)}"
    for font_size, (ratio, chars, rouge, half) in POINTS.items():
        render = json.dumps(to_dict(RenderConfig(font_size=font_size)), sort_keys=True, separators=(",", ":"))
        logger = RunLogger.start(EXPERIMENT, run_name=f"render.font_size={font_size} ({sweep_id})", uri=uri,
                                 params={"sweep_id": sweep_id, "lora.rank": 8},
                                 tags={"deepsynth.sweep": sweep_id, "deepsynth.render": render})
        logger.log_metrics({"compression/ratio": ratio, "compression/chars_per_page": chars,
                            "compression/read_tokens_per_page": 150.0 / ratio, "compression/reading_accuracy": 0.9,
                            "compression/docs": 200.0}, step=0)
        logger.log_metrics({"eval/rougeL": rouge, "eval/rougeL_lo": rouge - half, "eval/rougeL_hi": rouge + half,
                            "eval/docs": 100.0, "train/loss": 1.0}, step=90, flush=True)
        logger.finish()
    parent = RunLogger.start(EXPERIMENT, run_name=f"sweep {sweep_id}", uri=uri, params={"sweep_id": sweep_id},
                             tags={"deepsynth.sweep": sweep_id, "deepsynth.sweep_parent": sweep_id})
    parent.log_metrics({"sweep/finished": 3.0}, step=0, flush=True)  # the newest run; it trained nothing
    parent.finish()
    return sweep_id


@dataclass(frozen=True)
class RenderSweepStore:
    """A tracking store holding one render sweep's three finished runs."""

    uri: str
    """Its sqlite URI."""
    sweep_id: str
    """The sweep the runs belong to."""

    def point_dashboard_at_it(self, workspace: Path) -> None:
        """Make the dashboard of `workspace` read this store (its settings file)."""
        settings = workspace / "workspace" / "dashboard.json"
        settings.parent.mkdir(parents=True, exist_ok=True)
        current = json.loads(settings.read_text()) if settings.is_file() else {}
        settings.write_text(json.dumps({**current, "tracking_uri": self.uri}))


@pytest.fixture(scope="session")
def render_sweep_store(tmp_path_factory) -> RenderSweepStore:
    from deepsynth.tracking.store import client_for

    uri = f"sqlite:///{tmp_path_factory.mktemp('render-sweep-mlflow') / 'mlflow.db'}"
    client_for(uri).search_experiments()  # migrate once
    return RenderSweepStore(uri, log_render_sweep(uri))
