"""`deepsynth dashboard`: the argv it runs (loopback, headless, no telemetry) and its CLI wiring."""

import sys
from pathlib import Path

from deepsynth import dashboard_launcher
from deepsynth.cli import build_parser


def test_default_command_serves_the_app_on_loopback_without_telemetry():
    argv = dashboard_launcher.dashboard_command()
    assert argv[:4] == [sys.executable, "-m", "streamlit", "run"]
    assert Path(argv[4]) == Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
    options = dict(zip(argv[5::2], argv[6::2]))
    assert options == {"--server.address": "127.0.0.1", "--server.port": "8501", "--server.headless": "true",
                       "--browser.gatherUsageStats": "false", "--client.toolbarMode": "minimal"}


def test_verb_parses_and_runs_the_command_it_built(capsys):
    args = build_parser().parse_args(["dashboard", "--port", "8611"])
    seen = []
    assert dashboard_launcher.run(args, call=lambda argv: seen.append(argv) or 0) == 0
    assert seen[0][seen[0].index("--server.port") + 1] == "8611"
    assert seen[0][seen[0].index("--server.address") + 1] == "127.0.0.1"
    assert "http://127.0.0.1:8611" in capsys.readouterr().out


def test_a_public_address_is_allowed_but_warned_about(capsys):
    args = build_parser().parse_args(["dashboard", "--host", "0.0.0.0"])
    seen = []
    dashboard_launcher.run(args, call=lambda argv: seen.append(argv) or 0)
    assert seen[0][seen[0].index("--server.address") + 1] == "0.0.0.0"
    assert "no login" in capsys.readouterr().err
