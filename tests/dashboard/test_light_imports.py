"""The dashboard process never imports torch, transformers or peft (their cold import is 12-21 s
here; they belong to the training and inference subprocesses). Every page runs with AppTest in a
fresh interpreter, with data to show, then that interpreter's sys.modules is checked."""

import json
import os
import subprocess
import sys

from dashboard_testing import APP, PAGES

HEAVY = ("torch", "transformers", "peft", "bitsandbytes", "accelerate")
SCRIPT = """
import json, sys
from streamlit.testing.v1 import AppTest

app_path, pages, heavy_roots = sys.argv[1], sys.argv[2].split(","), set(sys.argv[3].split(","))
shown = {}
for page in pages:
    app = AppTest.from_file(app_path, default_timeout=120)
    app.switch_page(f"../pages/{page}.py").run()
    assert not app.exception, (page, app.exception)
    if page == "dataset":  # the browse view loads a dataset with `datasets`
        app.segmented_control(key="dataset.mode").set_value("Browse").run()
        assert not app.exception and len(app.image) == 1, page
    shown[page] = len(app.main.children)
heavy = sorted(name for name in sys.modules if name.split(".")[0] in heavy_roots)
print(json.dumps({"heavy": heavy, "shown": shown}))
"""


def test_no_page_imports_the_training_stack(workspace, store, datasets_setting):
    env = dict(os.environ, DEEPSYNTH_HOME=str(workspace), MLFLOW_TRACKING_URI=store.uri)
    # started in dashboard/, AppTest reads dashboard/.streamlit/config.toml (loopback) as
    # `streamlit run` does from anywhere; AppTest alone reads only the current folder's
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(APP), ",".join(PAGES), ",".join(HEAVY)],
                          capture_output=True, text=True, env=env, timeout=600, cwd=str(APP.parent))
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(result["shown"]) == set(PAGES) and all(n > 2 for n in result["shown"].values())
    assert result["heavy"] == []
