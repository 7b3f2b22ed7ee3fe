"""Slowing down password guessing: failed sign-ins counted in a file beside the users file.

The counts live on disk (`<users file stem>.failed-sign-ins.json`, mode 0600, changed under an
advisory lock from `deepsynth.file_locks`), not in the server's memory: nothing a browser sends
(Streamlit's "clear cache" message wipes every `st.cache_resource` and the session state) and no
restart resets them, and every server process that reads the same users file shares them.

Two counts, each forgotten `forget_after_s` after its last failure:
- per client address (`addresses.client_address`: the connection's address, or the address a
  trusted proxy forwarded): every failure from there, whatever the user name;
- per user name (case and spaces folded, known or not): every failure for it, from anywhere.
After `free_attempts` failures a count makes the next attempt wait `base_delay_s`, then twice as
long after each further failure, at most `max_delay_s` (defaults: 3 free failures, then 2, 4, 8,
16, 30, 30 ... s): three attempts go through at once, the fourth waits 2 s. An attempt waits for
its address's count, and for its user name's count only when its address has failed before: a
guesser slows down wherever it guesses from, while the real user signing in from another (clean)
address is never made to wait (after a typo there, at most 30 s). When the server cannot vouch
for client addresses (`addresses.addresses_are_real()` is False: a client could pick a fresh one
for every guess), the user name's count applies to every address. A successful sign-in clears its
address's count. The file holds at most `max_keys` counts (the oldest are forgotten first).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from deepsynth.atomic_files import write_bytes_atomic
from deepsynth.file_locks import try_lock

FREE_ATTEMPTS = 3
BASE_DELAY_S = 2.0
MAX_DELAY_S = 30.0
FORGET_AFTER_S = 3600.0
LOCK_WAIT_S = 5.0


def throttle_file(users_path: Path) -> Path:
    """Where the failed sign-ins of `users_path`'s users are counted (the same folder)."""
    return users_path.with_name(f"{users_path.stem}.failed-sign-ins.json")


def delay_after(failures: int, free_attempts: int = FREE_ATTEMPTS, base_delay_s: float = BASE_DELAY_S,
                max_delay_s: float = MAX_DELAY_S) -> float:
    """Seconds the next attempt waits after `failures` failures in a row."""
    extra = failures - free_attempts
    return 0.0 if extra < 0 else min(max_delay_s, base_delay_s * 2.0 ** extra)


@dataclass(frozen=True)
class Count:
    failures: int
    last_failure: float
    """Wall-clock time (`time.time()`): the file outlives the process."""


class FailedSignIns:
    """The failed-sign-in counts in one file; safe across threads and processes (flock)."""

    def __init__(self, path: Path, free_attempts: int = FREE_ATTEMPTS, base_delay_s: float = BASE_DELAY_S,
                 max_delay_s: float = MAX_DELAY_S, forget_after_s: float = FORGET_AFTER_S,
                 clock: Callable[[], float] = time.time, max_keys: int = 10_000) -> None:
        self.path, self.lock_path = path, path.with_name(path.name + ".lock")
        self.free_attempts, self.base_delay_s, self.max_delay_s = free_attempts, base_delay_s, max_delay_s
        self.forget_after_s, self.clock, self.max_keys = forget_after_s, clock, max_keys

    @staticmethod
    def _keys(name: str, address: str) -> tuple[str, str]:
        return f"address:{address}", f"user:{name.strip().casefold()}"

    # -- the file ----------------------------------------------------------------------------
    def _read(self) -> dict[str, Count]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return {key: Count(int(value[0]), float(value[1])) for key, value in data["counts"].items()}
        except FileNotFoundError:
            return {}
        except (ValueError, KeyError, TypeError, IndexError, AttributeError, UnicodeDecodeError):
            return {}  # a damaged file starts the counts again; it never opens the door by itself

    def _write(self, counts: dict[str, Count]) -> None:
        newest = sorted(counts.items(), key=lambda item: item[1].last_failure, reverse=True)[: self.max_keys]
        payload = {"format": 1, "counts": {key: [c.failures, c.last_failure] for key, c in newest}}
        write_bytes_atomic(self.path, (json.dumps(payload) + "\n").encode("utf-8"))  # mkstemp: 0600

    def _locked(self):
        if not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, mode=0o700)
        handle = try_lock(self.lock_path, wait_s=LOCK_WAIT_S)
        if handle is not None:
            os.chmod(self.lock_path, 0o600)
        return handle

    def _live(self, counts: dict[str, Count], now: float) -> dict[str, Count]:
        return {key: c for key, c in counts.items() if now - c.last_failure < self.forget_after_s}

    # -- the rule ----------------------------------------------------------------------------
    def _wait(self, count: Count | None, now: float) -> float:
        if count is None:
            return 0.0
        delay = delay_after(count.failures, self.free_attempts, self.base_delay_s, self.max_delay_s)
        return max(0.0, count.last_failure + delay - now)

    def _wait_in(self, counts: dict[str, Count], name: str, address: str, now: float,
                 every_address: bool = False) -> float:
        address_key, user_key = self._keys(name, address)
        waits = [self._wait(counts.get(address_key), now)]
        if every_address or address_key in counts:  # else the name's count slows only addresses that failed
            waits.append(self._wait(counts.get(user_key), now))
        return max(waits)

    def wait_s(self, name: str, address: str, every_address: bool = False) -> float:
        """Seconds before `name` may try again from `address` (0: now). When the file cannot be
        locked in time the answer is a short wait, never "go ahead". `every_address`: the name's
        count applies even to an address with no failures (addresses may be forged)."""
        handle = self._locked()
        if handle is None:
            return 1.0
        with handle:
            now = self.clock()
            return self._wait_in(self._live(self._read(), now), name, address, now, every_address)

    def failed(self, name: str, address: str, every_address: bool = False) -> float:
        """Count one failure; returns the wait before the next attempt from `address`."""
        handle = self._locked()
        if handle is None:
            return 1.0
        with handle:
            now = self.clock()
            counts = self._live(self._read(), now)
            for key in self._keys(name, address):
                before = counts.get(key)
                counts[key] = Count((before.failures if before else 0) + 1, now)
            self._write(counts)
            return self._wait_in(counts, name, address, now, every_address)

    def succeeded(self, name: str, address: str) -> None:
        """A right password: the address starts afresh (the user name's count stays: it is how a
        guesser spread over many addresses is slowed)."""
        handle = self._locked()
        if handle is None:
            return
        with handle:
            now = self.clock()
            counts = self._live(self._read(), now)
            if counts.pop(self._keys(name, address)[0], None) is not None:
                self._write(counts)
