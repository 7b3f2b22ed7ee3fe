"""Checking a safetensors file without trusting it: bounded header, consistent offsets, known shapes.

Format (https://github.com/huggingface/safetensors#format): 8 bytes little-endian u64 `N`, then `N`
bytes of UTF-8 JSON `{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}`,
then the tensor bytes; offsets are relative to the byte after the header and must tile the data
region exactly (no gaps, no overlap), as the reference parser requires.
Everything here reads bytes only: no torch, nothing executed, a pickle gives a clear refusal.
"""

from __future__ import annotations

import json
import math
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from deepsynth.errors import InputError

MAX_HEADER_BYTES = 16 * 1024 * 1024
"""The header of a 135M-parameter model with 300 tensors is ~30 KB; 16 MiB leaves room for models
with tens of thousands of tensors while refusing a header length meant to exhaust memory."""

DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8,
}


@dataclass(frozen=True)
class TensorInfo:
    """One tensor entry of a safetensors header."""

    name: str
    """Tensor name (the state-dict key)."""
    dtype: str
    """safetensors dtype code (`F32`, `BF16`, ...)."""
    shape: tuple[int, ...]
    """Tensor shape."""
    start: int
    """First byte of the tensor in the data region."""
    end: int
    """One past its last byte."""


@dataclass(frozen=True)
class SafetensorsHeader:
    """A parsed and checked safetensors header."""

    tensors: dict[str, TensorInfo]
    """Tensor entries by name."""
    metadata: dict[str, str]
    """The free-form `__metadata__` (string to string)."""
    header_length: int
    """`N`, the JSON header's length in bytes."""

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {name: info.shape for name, info in self.tensors.items()}


def _what_else(prefix: bytes) -> str | None:
    """Name the format of a file that is not safetensors, from its first bytes."""
    if prefix[:4] == b"PK\x03\x04":
        return "a ZIP archive (the torch.save format, which unpickles on load)"
    if prefix[:1] == b"\x80" and len(prefix) > 1 and 2 <= prefix[1] <= 5:
        return f"a pickle (protocol {prefix[1]}), which can run code when loaded"
    if prefix[:2] in (b"\x1f\x8b", b"BZ", b"\xfd7"):
        return "a compressed archive"
    return None


def parse_header(prefix: bytes, total_size: int, where: str,
                 max_header_bytes: int = MAX_HEADER_BYTES) -> SafetensorsHeader:
    """Parse the header from the file's first bytes (`prefix` holds at least 8 + N bytes when the
    header is valid; only the first 8 are needed to refuse an oversized one) and check it against
    the file's total size. Raises `InputError` naming `where`."""
    other = _what_else(prefix)
    if other:
        raise InputError(f"{where}: not a safetensors file: it is {other}")
    if total_size < 8 or len(prefix) < 8:
        raise InputError(f"{where}: truncated safetensors file ({total_size} bytes; the 8-byte header length is missing)")
    (header_length,) = struct.unpack("<Q", prefix[:8])
    if header_length > max_header_bytes:
        raise InputError(f"{where}: safetensors header length {header_length:,} bytes exceeds the "
                         f"{max_header_bytes:,}-byte limit (corrupt or hostile file)")
    if 8 + header_length > total_size:
        raise InputError(f"{where}: truncated safetensors file: header says {header_length:,} bytes "
                         f"but the file has only {total_size - 8:,} after the length")
    if len(prefix) < 8 + header_length:
        raise InputError(f"{where}: internal error: {8 + header_length} header bytes needed, {len(prefix)} read")
    raw = prefix[8:8 + header_length]
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{where}: safetensors header is not valid UTF-8 JSON ({error})") from None
    if not isinstance(header, dict):
        raise InputError(f"{where}: safetensors header must be a JSON object")
    return _check_entries(header, total_size - 8 - header_length, header_length, where)


def _check_entries(header: dict[str, Any], data_length: int, header_length: int, where: str) -> SafetensorsHeader:
    metadata = header.pop("__metadata__", {}) or {}
    if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise InputError(f"{where}: safetensors __metadata__ must map strings to strings")
    tensors: dict[str, TensorInfo] = {}
    for name, entry in header.items():
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise InputError(f"{where}: tensor {name!r}: entry must have exactly dtype, shape, data_offsets")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in DTYPE_BYTES:
            raise InputError(f"{where}: tensor {name!r}: unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            raise InputError(f"{where}: tensor {name!r}: shape must be a list of non-negative integers, got {shape!r}")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offsets)
                or offsets[0] > offsets[1]):
            raise InputError(f"{where}: tensor {name!r}: data_offsets must be [begin, end] with 0 <= begin <= end")
        expected = math.prod(shape) * DTYPE_BYTES[dtype]
        if offsets[1] - offsets[0] != expected:
            raise InputError(f"{where}: tensor {name!r}: {dtype}{shape} needs {expected:,} bytes, "
                             f"data_offsets span {offsets[1] - offsets[0]:,}")
        tensors[name] = TensorInfo(name, dtype, tuple(shape), offsets[0], offsets[1])
    position = 0
    for info in sorted(tensors.values(), key=lambda t: (t.start, t.end)):
        if info.start != position:
            kind = "overlaps the previous tensor" if info.start < position else "leaves a gap before it"
            raise InputError(f"{where}: tensor {info.name!r} {kind} (offset {info.start:,}, expected {position:,})")
        position = info.end
    if position != data_length:
        problem = "truncated" if position > data_length else "has trailing bytes"
        raise InputError(f"{where}: safetensors file {problem}: tensors need {position:,} data bytes, "
                         f"the file holds {data_length:,}")
    return SafetensorsHeader(tensors, dict(metadata), header_length)


def read_header(path: str | Path, max_header_bytes: int = MAX_HEADER_BYTES) -> SafetensorsHeader:
    """Parse and check the header of a safetensors file on disk (reads at most 8 + N bytes)."""
    path = Path(path)
    total = path.stat().st_size
    with path.open("rb") as stream:
        prefix = stream.read(8)
        if len(prefix) == 8 and _what_else(prefix) is None:
            (length,) = struct.unpack("<Q", prefix)
            if length <= max_header_bytes:
                prefix += stream.read(length)
    return parse_header(prefix, total, str(path), max_header_bytes)


def check_shapes(header: SafetensorsHeader, expected: Mapping[str, tuple[int, ...]], where: str) -> None:
    """Every tensor must be one the base model expects, with the expected shape; all are reported."""
    problems = []
    for name, info in sorted(header.tensors.items()):
        want = expected.get(name)
        if want is None:
            problems.append(f"tensor {name!r} matches no parameter of the base model")
        elif tuple(want) != info.shape:
            problems.append(f"tensor {name!r} has shape {list(info.shape)}, the base model expects {list(want)}")
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise InputError(f"{where}: {shown}")


# --- expected LoRA tensor shapes from the base model -------------------------------------------

_LORA_KEY = re.compile(r"^(?P<module>.+)\.(?P<kind>lora_A|lora_B|lora_embedding_A|lora_embedding_B|"
                       r"lora_magnitude_vector)(?:\.weight)?$")


def _rank_for(module_path: str, config: Mapping[str, Any], key: str) -> int:
    """PEFT's rule: `rank_pattern`/`alpha_pattern` keys match a module name's tail (regex)."""
    pattern = config.get(key) or {}
    for name, value in pattern.items():
        if re.match(rf"(.*\.)?({name})$", module_path):
            return int(value)
    return int(config.get("r", 8))


def _features(module: Any) -> tuple[int, int] | None:
    """(in, out) of a linear-like module: nn.Linear, transformers' Conv1D (weight is in x out)."""
    if hasattr(module, "in_features") and hasattr(module, "out_features"):
        return int(module.in_features), int(module.out_features)
    if type(module).__name__ == "Conv1D" and hasattr(module, "weight"):
        return int(module.weight.shape[0]), int(module.weight.shape[1])
    if hasattr(module, "num_embeddings") and hasattr(module, "embedding_dim"):
        return int(module.num_embeddings), int(module.embedding_dim)
    return None


_WRAPPERS = re.compile(r"\.(?:base_layer|original_module|modules_to_save\.[^.]+)(?=\.|$)")


def unwrapped_name(name: str) -> str:
    """A parameter/module name as in the plain base, whether or not PEFT already wrapped it."""
    return _WRAPPERS.sub("", name)


def expected_adapter_shapes(base: Any, adapter_config: Mapping[str, Any],
                            tensor_names: list[str], prefix: str = "base_model.model.") -> dict[str, tuple[int, ...]]:
    """The shape each adapter tensor must have for the module PEFT wraps (`base`), following
    PEFT's LoRA layers (tuners/lora/layer.py): lora_A is (r, in), lora_B is (out, r); for an
    embedding lora_embedding_A is (r, num_embeddings) and lora_embedding_B is (dim, r); DoRA's
    magnitude is (out,). Other tensors (modules_to_save) must match the base's parameter or
    persistent buffer (PEFT saves a module's whole state dict: Florence-2's projector holds one).
    Names that resolve to no module of `base` get no entry, so `check_shapes` refuses them."""
    modules = {unwrapped_name(name): module for name, module in base.named_modules()}
    parameters = {unwrapped_name(name): tuple(t.shape) for name, t in base.state_dict(keep_vars=True).items()}
    expected: dict[str, tuple[int, ...]] = {}
    for name in tensor_names:
        if not name.startswith(prefix):
            continue
        local = name[len(prefix):]
        match = _LORA_KEY.match(local)
        if match is None:
            trimmed = unwrapped_name(local)
            if trimmed in parameters:
                expected[name] = parameters[trimmed]
            continue
        module_path, kind = match.group("module"), match.group("kind")
        module = modules.get(module_path)
        features = _features(module) if module is not None else None
        if features is None:
            continue
        rank = _rank_for(module_path, adapter_config, "rank_pattern")
        fan_in, fan_out = features
        expected[name] = {
            "lora_A": (rank, fan_in),
            "lora_B": (fan_out, rank),
            "lora_embedding_A": (rank, fan_in),
            "lora_embedding_B": (fan_out, rank),
            "lora_magnitude_vector": (fan_out,),
        }[kind]
    return expected
