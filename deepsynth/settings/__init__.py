"""Settings: one description of every config field (`fields`) and where its value may come from
(`sources`); `deepsynth.config_flags` builds the command-line flags from it."""

from deepsynth.settings.fields import (AUTO, ANYWHERE, FILE, FLAG, FLAG_ONLY, FORM, QUEUE, TRACKING_URI,
                                       WORKSPACE_PATH, Setting, groups, setting, setting_at, settings_of, shown)

__all__ = ["AUTO", "ANYWHERE", "FILE", "FLAG", "FLAG_ONLY", "FORM", "QUEUE", "TRACKING_URI", "WORKSPACE_PATH",
           "Setting", "groups", "setting", "setting_at", "settings_of", "shown"]
