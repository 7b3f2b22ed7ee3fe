"""Models named by hub id (`ORG/NAME[@REVISION]`): their files in the user's Hugging Face cache.

A hub id resolves to a snapshot folder of the HF cache (`models--ORG--NAME/snapshots/COMMIT`), and
from there everything runs as for a local folder: the kind is read from its config.json, the
processor and weights load from the folder. The revision the user gave (a branch, tag or commit;
`main` when none) resolves to a commit, and the model's name is pinned to it (`ORG/NAME@COMMIT`)
wherever a run, an adapter card or a registry version records it, so the base an adapter was
trained on is the one it is loaded on later.

Fetching: when the cache lacks the snapshot and the hub may be contacted (`HF_HUB_OFFLINE` unset and
not inside `hub_offline.hub_offline()`), the repo's files are downloaded with progress and resumed
when interrupted (`huggingface_hub.snapshot_download`); the free disk space is checked against the
files' sizes first. Offline without the files: one message naming the repo, the revision and the
cache folder. Weights in formats DeepSynth does not load (`IGNORED_FILES`) are not fetched.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable

from deepsynth.errors import InputError
from deepsynth.hub_offline import is_hub_id

IGNORED_FILES = ("*.gguf", "*.onnx", "*.onnx_data", "*.msgpack", "*.h5", "*.tflite", "*.ot", "*.mlmodel",
                 "*.pt", "*.pth", "*.ckpt", "*.tar", "*.zip", "original/*", "onnx/*", "openvino/*")
"""Files of a model repo that DeepSynth never loads (other runtimes' weights, pickled checkpoints)."""
PINNED_PARAM = "model.pinned_name"
"""The MLflow param a run logs beside `model.name` when that is a hub id: `ORG/NAME@COMMIT`."""
SPACE_MARGIN = 1.05
"""A download needs its files' size plus this share to spare (temporary `.incomplete` files)."""


def split_revision(name: str) -> tuple[str, str | None]:
    """`ORG/NAME@REV` -> (`ORG/NAME`, `REV`); (`ORG/NAME`, None) without a revision."""
    repo, _, revision = name.partition("@")
    return repo, revision or None


def pinned_name(repo: str, commit: str) -> str:
    return f"{repo}@{commit}"


def commit_of(folder: Path) -> str | None:
    """The commit a snapshot folder of the HF cache holds (`.../snapshots/COMMIT`), else None."""
    return folder.name if folder.parent.name == "snapshots" else None


def cache_folder() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def offline() -> bool:
    """Whether the hub may not be contacted now (HF_HUB_OFFLINE, or inside `hub_offline.hub_offline()`)."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


OFFLINE_REASON = "the hub may not be contacted (HF_HUB_OFFLINE=1, or an adapter's base that needs --allow-download)"


def missing_message(name: str, partial: bool = False, why: str = OFFLINE_REASON) -> str:
    """One message naming what is missing: the repo, the revision, the cache folder, and how to get it."""
    repo, revision = split_revision(name)
    holds = "only part of a snapshot (no weights)" if partial else "no snapshot"
    return (f"model {name!r}: the Hugging Face cache ({cache_folder()}) holds {holds} of {repo!r} at "
            f"revision {revision or 'main'!r}, and {why}; download it where the hub is reachable "
            f"(`hf download {repo}{f' --revision {revision}' if revision else ''}`), or name a local folder")


def cached_snapshot(name: str) -> Path | None:
    """The snapshot folder of `ORG/NAME[@REV]` in the HF cache with its config.json, or None."""
    from huggingface_hub import try_to_load_from_cache

    repo, revision = split_revision(name)
    found = try_to_load_from_cache(repo, "config.json", revision=revision)
    return Path(found).parent if isinstance(found, str) else None


def download_needed(name: str) -> bool:
    """A hub id whose files the cache lacks while the hub may be contacted: loading it would download."""
    if not is_hub_id(name) or offline():
        return False
    cached = cached_snapshot(name)
    return cached is None or not has_weights(cached)


def check_free_space(needed: int, where: Path, name: str) -> None:
    """Refuse a download that would not fit on the disk holding `where`."""
    where.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(where).free
    if needed * SPACE_MARGIN > free:
        raise InputError(f"model {name!r}: its files need {needed / 1e9:.2f} GB but {where} has "
                         f"{free / 1e9:.2f} GB free; free some space or set HF_HUB_CACHE to a larger disk")


def download_size(repo: str, revision: str | None) -> int:
    """Bytes of the repo's files DeepSynth would fetch (not counting those already cached)."""
    import fnmatch

    from huggingface_hub import HfApi, try_to_load_from_cache

    info = HfApi().model_info(repo, revision=revision, files_metadata=True)
    total = 0
    for sibling in info.siblings or []:
        if any(fnmatch.fnmatch(sibling.rfilename, pattern) for pattern in IGNORED_FILES):
            continue
        if isinstance(try_to_load_from_cache(repo, sibling.rfilename, revision=info.sha), str):
            continue
        total += sibling.size or 0
    return total


def model_files(name: str, progress: Callable[[int, int], Any] | None = None) -> Path:
    """The local folder of a model name: the folder itself, or a hub id's snapshot in the HF cache
    (fetched when missing and the hub may be contacted; `progress(done_bytes, total_bytes)` hears
    the download)."""
    if not is_hub_id(name):
        return Path(name).expanduser().resolve()
    repo, revision = split_revision(name)
    cached = cached_snapshot(name)
    if cached is not None and has_weights(cached):
        return cached
    if offline():
        raise InputError(missing_message(name, partial=cached is not None))
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError,
                                        RepositoryNotFoundError, RevisionNotFoundError)

    try:
        check_free_space(download_size(repo, revision), cache_folder(), name)
        folder = snapshot_download(repo, revision=revision, ignore_patterns=list(IGNORED_FILES),
                                   tqdm_class=_progress_bar(progress) if progress else None)
    except RevisionNotFoundError:
        raise InputError(f"model {name!r}: {repo!r} has no revision {revision!r}") from None
    except GatedRepoError:
        raise InputError(f"model {name!r}: a gated repo; accept its terms on the hub and log in (`hf auth login`)") from None
    except RepositoryNotFoundError:
        raise InputError(f"model {name!r}: no such model on the Hugging Face hub (or it is private)") from None
    except LocalEntryNotFoundError:
        raise InputError(missing_message(name)) from None
    except (HfHubHTTPError, OSError) as error:
        raise InputError(f"model {name!r}: the download failed ({error}); run the same command again to resume") from None
    return Path(folder)


def has_weights(folder: Path) -> bool:
    """A snapshot with weights beside its config (a config fetched alone is not a model)."""
    return any(p.suffix in (".safetensors", ".bin") for p in folder.iterdir())


def pin(name: str, folder: Path) -> str:
    """`name` with the commit its files came from (`ORG/NAME@COMMIT`); a local folder unchanged."""
    commit = commit_of(folder) if is_hub_id(name) else None
    return pinned_name(split_revision(name)[0], commit) if commit else name


def _progress_bar(progress: Callable[[int, int], Any]):
    """A tqdm class that also reports bytes to `progress` (the dashboard's progress bar)."""
    from tqdm.auto import tqdm

    class Reporting(tqdm):
        def update(self, n: float | None = 1) -> bool | None:
            shown = super().update(n)
            if self.unit == "B" and self.total:
                progress(int(self.n), int(self.total))
            return shown

    return Reporting
