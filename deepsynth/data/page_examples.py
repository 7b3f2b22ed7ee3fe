"""Examples made of page files: a PDF or image, a folder (with or without a manifest), a LLaVA JSON,
or a table with an image column (`deepsynth.data.image_tables`).

Collecting reads no pixels: it opens each named file once to check it (type, encryption, page
count) and returns `PageExample`s that say which pages of which files make each example, its
target and its prompt. `deepsynth.data.page_builder` rasterizes them one example at a time.

A manifest (`manifest.csv` / `manifest.jsonl` in the folder, or `--manifest FILE`) has a row per
example: `file` (a path relative to the folder), `target` (`summary` still accepted), and optional
`id`, `pages` (`1-3`, `2`, `1,4-6`: 1-based, inclusive) and `prompt` (given to the model as text).
Without a manifest, only `--task transcribe` has targets: one example per page, its target the
page's text layer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from deepsynth.data.config import DatasetConfig
from deepsynth.data.page_files import PAGE_SUFFIXES, PageFile, is_page_file
from deepsynth.data.sources import Row, read_file
from deepsynth.data.tasks import check_target, effective_prompt
from deepsynth.errors import InputError

MANIFEST_NAMES = ("manifest.csv", "manifest.jsonl")
"""Manifest files looked for in a source folder (`--manifest FILE` names another)."""
IMAGE_TOKEN = "<image>"
"""Where an image goes in a LLaVA/ShareGPT user turn (LLaMA-Factory's and ms-swift's token)."""
USER_ROLES = ("human", "user")
ANSWER_ROLES = ("gpt", "assistant")


class TargetsMissing(InputError):
    """Page files without a manifest under a task other than transcribe: nothing says what each
    example's answer is (`source`, `task` kept so that each client words the remedy)."""

    def __init__(self, source: Path, task: str) -> None:
        self.source, self.task = source, task
        super().__init__(
            f"{source}: --task {task} needs a target for each example: add a manifest "
            f"({' or '.join(MANIFEST_NAMES)} with columns file, target and optional id, pages, prompt) "
            "or pass --manifest FILE; only --task transcribe reads its targets from the PDF's text layer")


@dataclass(frozen=True)
class PageExample:
    """One example: pages of one or more files, a target and a prompt."""

    id: str
    where: str
    """Where it was defined ("manifest.csv line 4", "a.pdf page 3"), for messages."""
    pages: tuple[tuple[str, int], ...]
    """(file key, 0-based page index) per page, in order."""
    target: str | None
    """The reference answer; None: the pages' text layer (transcribe)."""
    prompt: str
    """Given to the model as text ("" : the model's default instruction)."""


@dataclass
class PageSet:
    """Everything collected from a page source, before any pixel is read."""

    name: str
    """How messages name the source."""
    files: dict[str, Any]
    """File key (its path as the user wrote it, relative to the source folder) -> its `Path`, or a
    `RowImage` (an image cell of a table row)."""
    examples: list[PageExample]
    columns: dict[str, str | None]
    counts: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)
    """File key -> a key shared by identical files (image cells with the same bytes)."""

    def groups(self) -> list[str]:
        """The split unit of each example: examples that share a file share a group, so that no
        document is in two splits (union-find over file keys)."""
        parent: dict[str, str] = {}

        def root(key: str) -> str:
            while parent.setdefault(key, key) != key:
                parent[key] = parent[parent[key]]
                key = parent[key]
            return key

        for example in self.examples:
            keys = [self.aliases.get(key, key) for key, _ in example.pages]
            for other in keys[1:]:
                parent[root(other)] = root(keys[0])
        return [root(self.aliases.get(example.pages[0][0], example.pages[0][0])) for example in self.examples]


def page_source_kind(config: DatasetConfig) -> str | None:
    """`manifest`, `folder`, `file` (one PDF/image), `llava`, `image_table` (Parquet or a local
    save_to_disk folder with an image column), or None for a text table source."""
    from deepsynth.data.image_tables import is_image_table

    if config.source_kind == "hf":
        return "image_table" if is_image_table(config) else None
    if config.source_kind != "file":
        return None
    if config.manifest:
        return "manifest"
    path = Path(config.source).expanduser()
    if path.is_dir():
        return "manifest" if any((path / name).is_file() for name in MANIFEST_NAMES) else "folder"
    if is_page_file(path):
        return "file"
    if path.name.lower() in MANIFEST_NAMES:
        return "manifest"  # --source FOLDER/manifest.csv: the folder it sits in
    if path.suffix.lower() in (".json", ".jsonl") and path.is_file() and _looks_like_llava(path, config):
        return "llava"
    if is_image_table(config):
        return "image_table"
    return None


def collect_page_examples(config: DatasetConfig) -> PageSet:
    """The examples of a page source (the first `config.limit` when set), every named file checked."""
    kind = page_source_kind(config)
    if kind == "manifest":
        page_set = _from_manifest(config)
    elif kind == "llava":
        page_set = _from_llava(config)
    elif kind == "image_table":
        from deepsynth.data.image_tables import collect_image_table

        page_set = collect_image_table(config)
    elif kind in ("folder", "file"):
        page_set = _from_files(config, kind)
    else:
        raise InputError(f"{config.source}: not a page source (a PDF, an image, a folder or a LLaVA JSON)")
    if config.limit and len(page_set.examples) > config.limit:
        page_set.examples = page_set.examples[:config.limit]
    return page_set


class _Opened:
    """Page counts of the files an example names, each file opened and checked once."""

    def __init__(self, config: DatasetConfig) -> None:
        self.config = config
        self.counts: dict[str, int] = {}
        self.paths: dict[str, Path] = {}

    def page_count(self, key: str, path: Path, where: str = "") -> int:
        """Pages in the file; a problem names `where` (the row naming the file) before the file."""
        if key not in self.counts:
            try:
                with PageFile(path, key, self.config.max_input_bytes, self.config.dpi,
                              self.config.max_page_pixels, self.config.page_color) as opened:
                    self.counts[key] = opened.page_count
            except InputError as error:
                if not where:
                    raise
                raise InputError(f"{where}: {error}") from None
            self.paths[key] = path
        return self.counts[key]


def _from_files(config: DatasetConfig, kind: str) -> PageSet:
    source = Path(config.source).expanduser()
    if kind == "folder":
        paths = sorted(p for p in source.rglob("*") if p.is_file() and is_page_file(p))
        if not paths:
            raise InputError(f"{source}: no manifest ({' or '.join(MANIFEST_NAMES)}) and no page files "
                             f"({', '.join(sorted(PAGE_SUFFIXES))}) in the folder")
        keys = [p.relative_to(source).as_posix() for p in paths]
    else:
        paths, keys = [source], [source.name]
    if config.task != "transcribe":
        raise TargetsMissing(source, config.task)
    opened = _Opened(config)
    examples = []
    stems: dict[str, int] = {}
    for key, path in zip(keys, paths):
        stem = Path(key).with_suffix("").as_posix().replace("/", "-")
        stems[stem] = stems.get(stem, 0) + 1
        if stems[stem] > 1:  # a-b.pdf and a/b.pdf, or a.pdf beside a.png
            stem = f"{stem}-{stems[stem]}"
        for index in range(opened.page_count(key, path)):
            where = f"{key} page {index + 1}"
            prompt = effective_prompt(config.task, "", config.prompt, where)
            examples.append(PageExample(f"{stem}-p{index + 1:04d}", where, ((key, index),), None, prompt))
    columns = {"file": None, "target": "text layer", "prompt": None, "id": None, "pages": None}
    return PageSet(str(source), opened.paths, examples, columns, counts={"rows_read": len(examples)})


def _from_manifest(config: DatasetConfig) -> PageSet:
    source = Path(config.source).expanduser()
    if config.manifest or not source.is_dir():
        manifest = Path(config.manifest or config.source).expanduser()
        root = source if source.is_dir() else manifest.parent
    else:
        found = [source / name for name in MANIFEST_NAMES if (source / name).is_file()]
        if len(found) > 1:
            raise InputError(f"{source}: both {' and '.join(MANIFEST_NAMES)}; keep one or pass --manifest FILE")
        manifest, root = found[0], source
    if manifest.suffix.lower() not in (".csv", ".jsonl", ".tsv"):
        raise InputError(f"{manifest}: a manifest is a .csv, .tsv or .jsonl file")
    table = read_file(manifest, config.max_input_bytes)
    columns = {
        "file": "file",
        "target": config.summary_column or _first(table.columns, ("target", "summary")),
        "prompt": config.prompt_column or _first(table.columns, ("prompt",)),
        "id": config.id_column or _first(table.columns, ("id",)),
        "pages": _first(table.columns, ("pages",)),
    }
    if table.columns_complete and "file" not in table.columns:
        raise InputError(f"{manifest}: no `file` column (a path relative to {root}); columns: {', '.join(table.columns)}")
    opened = _Opened(config)
    examples: list[PageExample] = []
    first_row_of: dict[str, str] = {}
    optional = {"target": ("target", "summary"), "prompt": ("prompt",), "id": ("id",), "pages": ("pages",)}
    for number, (where, row) in enumerate(table.rows, start=1):
        if not table.columns_complete:  # JSON lines: a later row may bring an optional column the first lacked
            for role, names in optional.items():
                columns[role] = columns[role] or _first(list(row), names)
        file_value = _cell(row, "file", where)
        if not file_value:
            raise InputError(f"{where}: no `file` (a path relative to {root})")
        path = _inside(root, file_value, where)
        if not path.exists():
            raise InputError(f"{where}: file {file_value!r} does not exist (looked in {root})")
        key = Path(file_value).as_posix()
        count = opened.page_count(key, path, where)
        pages_spec = _cell(row, columns["pages"], where) if columns["pages"] else ""
        indices = parse_pages(pages_spec, count, f"{where}: {key}") if pages_spec else tuple(range(count))
        _check_cap(len(indices), config, f"{where}: {key}" + (f" pages {pages_spec}" if pages_spec else ""),
                   ranged=bool(pages_spec))
        target = _cell(row, columns["target"], where) if columns["target"] else ""
        if not target:
            if config.task != "transcribe":
                raise InputError(f"{where}: no target (column {columns['target'] or 'target'!r}); "
                                 f"--task {config.task} needs one per row")
            target = None  # the pages' text layer
        else:
            check_target(config.task, target, where)
        row_prompt = _cell(row, columns["prompt"], where) if columns["prompt"] else ""
        prompt = effective_prompt(config.task, row_prompt, config.prompt, where)
        example_id = _cell(row, columns["id"], where) if columns["id"] else ""
        example_id = example_id or f"{Path(key).with_suffix('').as_posix().replace('/', '-')}-row{number}"
        if example_id in first_row_of:
            raise InputError(f"{where}: duplicate id {example_id!r} (first at {first_row_of[example_id]}); "
                             "ids must be unique")
        first_row_of[example_id] = where
        examples.append(PageExample(example_id, where, tuple((key, i) for i in indices), target, prompt))
    warnings = []
    named = {path.resolve() for path in opened.paths.values()}
    unnamed = sorted(str(p.relative_to(root)) for p in root.rglob("*")
                     if p.is_file() and is_page_file(p) and p.resolve() not in named)
    if unnamed:
        from deepsynth.data.builder import listed

        shown = listed(unnamed)
        warnings.append(f"{manifest}: {len(unnamed)} page file(s) in {root} are named by no row and were "
                        f"left out: {shown}")
    counts = {"rows_read": len(examples), "unnamed_files": len(unnamed)}
    return PageSet(str(manifest), opened.paths, examples, columns, counts, warnings)


def parse_pages(spec: str, count: int, where: str) -> tuple[int, ...]:
    """`1-3`, `2`, `1,4-6`, `5-` (to the end) -> 0-based page indices, checked against `count`."""
    indices: list[int] = []
    for part in str(spec).replace(" ", "").split(","):
        first, dash, last = part.partition("-")
        try:
            start = int(first)
            end = (int(last) if last else count) if dash else start
        except ValueError:
            raise InputError(f"{where}: pages {spec!r}: expected page numbers like 1-3, 2 or 1,4-6") from None
        if start < 1 or end < start:
            raise InputError(f"{where}: pages {spec!r}: {part!r} is not a range of page numbers from 1")
        if end > count:
            raise InputError(f"{where}: pages {spec!r} go past the end of the file ({count} page(s))")
        indices.extend(range(start - 1, end))
    return tuple(indices)


def _check_cap(pages: int, config: DatasetConfig, where: str, ranged: bool) -> None:
    if pages > config.max_document_pages:
        hint = "choose fewer pages" if ranged else "choose pages with a `pages` column (e.g. 1-3)"
        raise InputError(f"{where}: {pages} pages, over the cap of {config.max_document_pages} pages per example "
                         f"(max_document_pages / --max-document-pages); {hint}, or use --task transcribe "
                         "without a manifest (one example per page)")


def _inside(root: Path, relative: str, where: str) -> Path:
    candidate = Path(relative)
    if candidate.is_absolute() or ".." in candidate.parts:
        raise InputError(f"{where}: file {relative!r} must be a path inside {root} (no absolute path, no '..')")
    return root / candidate


def _first(columns: list[str], names: tuple[str, ...]) -> str | None:
    lowered = {column.lower(): column for column in columns}
    return next((lowered[name] for name in names if name in lowered), None)


def _cell(row: Row, column: str | None, where: str) -> str:
    value: Any = row.get(column) if column else None
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        if isinstance(value, (dict, list)):
            return json.dumps(value, ensure_ascii=False)  # a JSON target written as JSON, not a string
        raise InputError(f"{where}: column {column!r} holds a {type(value).__name__}, expected text")
    return str(value).replace("\r\n", "\n").strip()


# LLaVA / ShareGPT JSON ---------------------------------------------------------------------------

def _looks_like_llava(path: Path, config: DatasetConfig) -> bool:
    try:
        table = read_file(path, config.max_input_bytes)
        _, first = next(table.rows)
    except (InputError, StopIteration):
        return False  # the text-table reader reports the problem with its own message
    return isinstance(first, dict) and ("conversations" in first or "messages" in first)


def _from_llava(config: DatasetConfig) -> PageSet:
    path = Path(config.source).expanduser()
    root = path.parent
    table = read_file(path, config.max_input_bytes)
    opened = _Opened(config)
    examples: list[PageExample] = []
    seen: dict[str, str] = {}
    for number, (where, item) in enumerate(table.rows):
        images = _images(item, where)
        keys = []
        for image in images:
            image_path = Path(image).expanduser()
            image_path = image_path if image_path.is_absolute() else root / image_path
            if not image_path.exists():
                raise InputError(f"{where}: image {image!r} does not exist (looked in {image_path.parent})")
            keys.append(image)
            opened.page_count(image, image_path, where)
        pairs = list(_turn_pairs(item, where, len(images)))
        pages = tuple((key, i) for key in keys for i in range(opened.counts[key]))
        _check_cap(len(pages), config, where, ranged=False)
        base = _cell(item, "id", where) or f"{path.stem}-{number:06d}"
        for turn, (question, answer) in enumerate(pairs):
            example_id = base if len(pairs) == 1 else f"{base}-{turn + 1}"
            if example_id in seen:
                raise InputError(f"{where}: duplicate id {example_id!r} (first at {seen[example_id]})")
            seen[example_id] = where
            check_target(config.task, answer, where)
            prompt = effective_prompt(config.task, question, config.prompt, where)
            examples.append(PageExample(example_id, f"{where} turn {turn + 1}", pages, answer, prompt))
    columns = {"file": "images", "target": "assistant turns", "prompt": "user turns", "id": "id", "pages": None}
    return PageSet(str(path), opened.paths, examples, columns, counts={"rows_read": len(examples)})


def _images(item: Row, where: str) -> list[str]:
    images = item.get("images", item.get("image"))
    if isinstance(images, str):
        images = [images]
    if not images or not isinstance(images, list) or not all(isinstance(i, str) and i for i in images):
        raise InputError(f"{where}: no image: expected `image` (a path) or `images` (a list of paths)")
    return images


def _turn_pairs(item: Row, where: str, image_count: int) -> Iterator[tuple[str, str]]:
    turns = item.get("conversations", item.get("messages"))
    if not isinstance(turns, list) or not turns:
        raise InputError(f"{where}: `conversations` / `messages` must be a non-empty list of turns")
    normalised = []
    for index, turn in enumerate(turns):
        role = turn.get("from", turn.get("role")) if isinstance(turn, dict) else None
        text = turn.get("value", turn.get("content")) if isinstance(turn, dict) else None
        if not isinstance(role, str) or not isinstance(text, str):
            raise InputError(f"{where}: turn {index + 1}: expected {{\"from\"/\"role\": ..., \"value\"/\"content\": "
                             "\"text\"}")
        if role == "system":
            continue
        if role not in USER_ROLES + ANSWER_ROLES:
            raise InputError(f"{where}: turn {index + 1}: unknown role {role!r} (expected "
                             f"{', '.join(USER_ROLES + ANSWER_ROLES)} or system)")
        normalised.append((role in USER_ROLES, text, index + 1))
    tokens = sum(text.count(IMAGE_TOKEN) for is_user, text, _ in normalised if is_user)
    if tokens == 0:
        raise InputError(f"{where}: no {IMAGE_TOKEN} token in any user turn; it marks where the "
                         f"{image_count} image(s) go")
    if tokens != image_count:
        more = "more images than" if image_count > tokens else "fewer images than"
        raise InputError(f"{where}: {image_count} image(s) but {tokens} {IMAGE_TOKEN} token(s) ({more} image tokens)")
    pending: tuple[str, int] | None = None
    for is_user, text, number in normalised:
        if is_user:
            if pending is not None:
                raise InputError(f"{where}: turn {pending[1]}: a user turn with no answer before the next user turn")
            pending = (text.replace(IMAGE_TOKEN, " ").strip(), number)
        else:
            if pending is None:
                raise InputError(f"{where}: turn {number}: an answer with no user turn before it")
            if not text.strip():
                raise InputError(f"{where}: turn {number}: an empty answer")
            yield pending[0], text.strip()
            pending = None
    if pending is not None:
        raise InputError(f"{where}: turn {pending[1]}: the conversation ends with no answer to the last user turn")
