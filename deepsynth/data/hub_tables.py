"""Hub datasets (`hf:ORG/NAME[:CONFIG][@SPLIT]`) as the Parquet shards of one split.

The hub stores a dataset as Parquet files (its own upload or the `refs/convert/parquet` branch the
hub writes for every public dataset), named by split: `data/train-00000-of-00002.parquet`,
`CONFIG/train/0000.parquet`, `train.parquet`. `huggingface_hub` fetches only those files into the
user's HF cache (`HF_HUB_OFFLINE=1` reads the cache alone), and DeepSynth reads them with its own
Parquet code, one row group at a time, so an image dataset from the hub takes the same path as a
local Parquet file with image bytes.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from deepsynth.errors import InputError

PARQUET_PATTERNS = ("*.parquet", "**/*.parquet")
SHARD_SPLIT = re.compile(r"^(?P<split>[A-Za-z0-9_.]+?)(?:-\d{5}-of-\d{5})?\.parquet$")


def split_of(relative: str) -> str | None:
    """The split a Parquet shard holds, read from its path in the repo (None when it does not say)."""
    parts = PurePosixPath(relative).parts
    match = SHARD_SPLIT.match(parts[-1])
    if match and not match.group("split").isdigit():
        return match.group("split")
    return parts[-2] if len(parts) >= 2 else None


def config_of(relative: str) -> str | None:
    """The config folder a shard sits in (`CONFIG/SPLIT/0000.parquet`, `CONFIG/train-*.parquet`)."""
    parts = PurePosixPath(relative).parts
    if len(parts) >= 3 and split_of(relative) == parts[-2]:
        return parts[-3]
    if len(parts) == 2 and parts[0] != "data" and split_of(relative) != parts[0]:
        return parts[0]
    return None


def pick_shards(files: list[str], source: str, config: str | None, split: str | None) -> list[str]:
    """The shards of the asked config and split (default `train`), in name order."""
    if config:
        files = [f for f in files if config_of(f) == config]
        if not files:
            raise InputError(f"{source}: no Parquet files for config {config!r}")
    wanted = split or "train"
    chosen = sorted(f for f in files if split_of(f) == wanted)
    if not chosen:
        splits = sorted({s for s in map(split_of, files) if s})
        if split is None and len(splits) <= 1:
            return sorted(files)  # one unnamed split: all of it
        raise InputError(f"{source}: no split {wanted!r}; splits: {', '.join(splits) or 'none named'}")
    return chosen


def hub_parquet_shards(source: str, name: str, config: str | None, split: str | None,
                       revision: str | None = None) -> list[Path] | None:
    """Local paths of the dataset's Parquet shards for one split, fetched into the HF cache (or read
    from it when offline); None when the repo holds no Parquet files (a script or CSV dataset)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled,
                                        RepositoryNotFoundError, RevisionNotFoundError)

    try:
        folder = Path(snapshot_download(name, repo_type="dataset", revision=revision,
                                        allow_patterns=list(PARQUET_PATTERNS)))
    except (LocalEntryNotFoundError, OfflineModeIsEnabled):
        raise InputError(f"{source}: the dataset {name!r} is not in the local Hugging Face cache and the hub "
                         "cannot be reached (HF_HUB_OFFLINE=1 or no network); download it once where the hub "
                         "is reachable, or use a local file or save_to_disk folder") from None
    except RepositoryNotFoundError:
        raise InputError(f"{source}: no dataset {name!r} on the Hugging Face hub (or it is private)") from None
    except RevisionNotFoundError:
        raise InputError(f"{source}: the dataset {name!r} has no revision {revision!r}") from None
    except (HfHubHTTPError, OSError) as error:
        raise InputError(f"{source}: could not fetch {name!r} from the Hugging Face hub: {error}") from None
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.parquet"))
    if not files:
        return None
    return [folder / relative for relative in pick_shards(files, source, config, split)]


def is_hub_name(name: str) -> bool:
    """`org/name` (or `name`) that is not a local path: what `hf:` names on the hub."""
    return not Path(name).expanduser().exists() and bool(re.fullmatch(r"[\w.-]+(/[\w.-]+)?", name))
