"""Rendering many documents to PNG pages, in this process or in a pool of worker processes.

The pool is long-lived: workers keep their font and word-sprite caches between batches (a fresh
worker rebuilds them, ~28% more CPU per document, docs/MEASURING.md), so one `RenderPool` can serve
a whole build, or several builds from the dashboard. Workers start with "spawn", not "fork": the
dashboard process has threads, and forking a threaded process can deadlock.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from deepsynth.configuration import from_dict, to_dict
from deepsynth.render import RenderConfig

BATCH_SIZE = 4
"""Documents per task sent to a worker: amortises inter-process overhead, keeps the order fine-grained."""


@dataclass(frozen=True)
class RenderedPages:
    """One rendered document, ready to store: PNG bytes per page plus what the renderer reported."""

    pages: tuple[bytes, ...]
    truncated: bool
    missing_glyphs: tuple[str, ...]
    warnings: tuple[str, ...]


def available_cores() -> int:
    """CPU cores this process may run on (respects affinity masks and container CPU sets)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


_worker_configs: dict[str, RenderConfig] = {}


def _config(render: dict[str, Any]) -> RenderConfig:
    key = json.dumps(render, sort_keys=True)
    if key not in _worker_configs:
        _worker_configs[key] = from_dict(RenderConfig, render)
    return _worker_configs[key]


def render_batch(render: dict[str, Any], instruction: str | None,
                 texts: Sequence[str]) -> list[RenderedPages]:
    """Render documents with the given (serialised) `RenderConfig`; runs in a worker or in-process."""
    from deepsynth.render import encode_png, render_document

    config = _config(render)
    results = []
    for text in texts:
        with _quiet_render_log():
            document = render_document(text, config, instruction=instruction)
        results.append(RenderedPages(
            pages=tuple(encode_png(page) for page in document.pages),
            truncated=bool(document.truncated),
            missing_glyphs=tuple(document.missing_glyphs),
            warnings=tuple(document.warnings),
        ))
    return results


@contextlib.contextmanager
def _quiet_render_log() -> Iterator[None]:
    """The renderer logs a warning per document; the builder reports them summarised instead."""
    from deepsynth.render import render_document

    logger = logging.getLogger(render_document.__module__)
    logger.addFilter(_drop)
    try:
        yield
    finally:
        logger.removeFilter(_drop)


def _drop(record: logging.LogRecord) -> bool:
    return False


class RenderPool:
    """Renders documents to PNG pages with `workers` processes (1: in this process)."""

    def __init__(self, workers: int = 0) -> None:
        self.workers = workers or available_cores()
        self._executor: ProcessPoolExecutor | None = None

    def render(self, texts: Sequence[str], config: RenderConfig,
               instruction: str | None = None) -> Iterator[RenderedPages]:
        """Rendered documents in the order of `texts`, yielded as soon as each is ready."""
        render = to_dict(config)
        batches = [texts[i:i + BATCH_SIZE] for i in range(0, len(texts), BATCH_SIZE)]
        if self.workers == 1 or len(batches) == 1:
            for batch in batches:
                yield from render_batch(render, instruction, batch)
            return
        executor = self._pool()
        futures = [executor.submit(render_batch, render, instruction, batch) for batch in batches]
        try:
            for future in futures:
                yield from future.result()
        finally:
            for future in futures:
                future.cancel()  # after an error or an abandoned iteration: drop queued work

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"))
        return self._executor

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def __enter__(self) -> "RenderPool":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
