"""Every refused import: the reason is named, and nothing at all is written."""

from __future__ import annotations

import os
import re
import struct
import zipfile
from pathlib import Path

import pytest
from safetensors.torch import save as save_safetensors

from deepsynth.errors import PackageRefused
from deepsynth.export.safe_import import ImportLimits, import_package


def snapshot(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.fixture
def import_area(tmp_path):
    """`zips/` holds packages; imports go under `imports/` (which does not exist yet)."""
    (tmp_path / "zips").mkdir()
    return tmp_path


def refuse(import_area: Path, zip_path: Path, oracle, pattern: str, limits: ImportLimits = ImportLimits()) -> str:
    before = snapshot(import_area)
    dest = import_area / "imports" / "pkg"
    with pytest.raises(PackageRefused) as caught:
        import_package(zip_path, dest, shape_oracle=oracle, limits=limits)
    message = str(caught.value)
    assert re.search(pattern, message), message
    assert snapshot(import_area) == before, "a refused import left files behind"
    assert not (import_area / "imports").exists()
    return message


def test_a_valid_package_imports_byte_for_byte(import_area, adapter_bytes, shape_oracle, zip_tools):
    from deepsynth.export.inference_script import inference_script

    files = {**adapter_bytes, "README.md": b"# card\n", "inference.py": inference_script().encode()}
    package = zip_tools.build_package(import_area / "zips" / "ok.zip", files)
    imported = import_package(package, import_area / "imports" / "pkg", shape_oracle=shape_oracle)
    assert imported.path == import_area / "imports" / "pkg"
    for name, data in files.items():
        assert (imported.path / name).read_bytes() == data
    assert set(imported.files) == set(files) | {"manifest.json"}
    leftovers = [p.name for p in (import_area / "imports").iterdir() if p.name != "pkg"]
    assert leftovers == []


def test_an_existing_destination_is_not_overwritten(import_area, adapter_bytes, shape_oracle, zip_tools):
    from deepsynth.errors import InputError

    package = zip_tools.build_package(import_area / "zips" / "ok.zip", adapter_bytes)
    (import_area / "imports" / "pkg").mkdir(parents=True)
    with pytest.raises(InputError, match="already exists"):
        import_package(package, import_area / "imports" / "pkg", shape_oracle=shape_oracle)
    assert list((import_area / "imports" / "pkg").iterdir()) == []


PATH_ATTACKS = {
    "zip slip ../": ("../evil.txt", r"'\.\.' in its path .*zip slip"),
    "nested zip slip": ("docs/../../evil.txt", r"zip slip"),
    "absolute path": ("/tmp/deepsynth-evil.txt", r"absolute path"),
    "drive letter": ("C:/Windows/evil.txt", r"drive-letter"),
    "backslash path": ("..\\evil.txt", r"backslash"),
    "control character": ("evil\x1b[2J.txt", r"control character U\+001B"),
    "too deep": ("a/b/c/d/e/f/g.txt", r"nested 7 levels deep"),
}


@pytest.mark.parametrize("case", sorted(PATH_ATTACKS))
def test_paths_outside_the_package_are_refused(case, import_area, adapter_bytes, shape_oracle, zip_tools):
    name, pattern = PATH_ATTACKS[case]
    package = zip_tools.build_package(import_area / "zips" / "p.zip", adapter_bytes, extra=[(name, b"owned\n")])
    refuse(import_area, package, shape_oracle, pattern)
    assert not (import_area / "evil.txt").exists() and not Path("/tmp/deepsynth-evil.txt").exists()


def test_symlink_entries_are_refused(import_area, adapter_bytes, shape_oracle, zip_tools):
    link = zipfile.ZipInfo("notes.txt")
    link.external_attr = 0o120777 << 16  # S_IFLNK: unpackers that honour modes create a symlink
    package = zip_tools.build_package(import_area / "zips" / "s.zip", adapter_bytes, extra=[(link, b"/etc/passwd")])
    refuse(import_area, package, shape_oracle, r"'notes\.txt' is a symbolic link")


@pytest.mark.parametrize("second", ["README.md", "readme.MD"])
def test_duplicate_names_are_refused(second, import_area, adapter_bytes, shape_oracle, zip_tools):
    package = zip_tools.build_package(import_area / "zips" / "d.zip", {**adapter_bytes, "README.md": b"one\n"},
                                      extra=[(second, b"two\n")])
    refuse(import_area, package, shape_oracle, r"duplicate entry")


def test_too_many_entries_are_refused(import_area, adapter_bytes, shape_oracle, zip_tools):
    limit = ImportLimits().max_entries
    many = {f"notes/{i}.txt": b"x" for i in range(limit)}
    package = zip_tools.build_package(import_area / "zips" / "m.zip", {**adapter_bytes, **many})
    refuse(import_area, package, shape_oracle, rf"too many entries: {limit + 3} \(limit {limit}\)")


def test_too_large_unpacked_is_refused(import_area, adapter_bytes, shape_oracle, zip_tools):
    limits = ImportLimits(max_unpacked_bytes=256 * 1024)
    package = zip_tools.build_package(import_area / "zips" / "l.zip", {**adapter_bytes, "big.txt": os.urandom(300 * 1024).hex().encode()[:300 * 1024]})
    refuse(import_area, package, shape_oracle, r"unpacked size exceeds 262,144 bytes", limits)


def test_a_zip_bomb_is_refused_from_its_ratio_before_inflating(import_area, adapter_bytes, shape_oracle, zip_tools):
    package = zip_tools.build_package(import_area / "zips" / "b.zip", {**adapter_bytes, "bomb.txt": b"0" * (8 * 1024 * 1024)})
    refuse(import_area, package, shape_oracle, r"'bomb\.txt' inflates [\d,]+x .*zip bomb")


def test_a_hash_mismatch_is_refused(import_area, adapter_bytes, shape_oracle, zip_tools):
    files = dict(adapter_bytes)
    manifest = zip_tools.manifest_for({**files, "adapter_config.json": b"{}"})
    package = zip_tools.build_package(import_area / "zips" / "h.zip", files, manifest=manifest)
    refuse(import_area, package, shape_oracle, r"adapter_config\.json: sha256 .* does not match the manifest")


def test_unlisted_files_and_a_missing_manifest_are_refused(import_area, adapter_bytes, shape_oracle, zip_tools):
    manifest = zip_tools.manifest_for(adapter_bytes)
    package = zip_tools.build_package(import_area / "zips" / "u.zip", {**adapter_bytes, "extra.txt": b"x"}, manifest=manifest)
    refuse(import_area, package, shape_oracle, r"'extra\.txt' is not listed in manifest\.json")
    bare = zip_tools.write_zip(import_area / "zips" / "n.zip", list(adapter_bytes.items()))
    refuse(import_area, bare, shape_oracle, r"no manifest\.json")


@pytest.mark.parametrize("suffix", [".bin", ".pt", ".pkl"])
def test_pickle_weight_files_are_refused(suffix, import_area, adapter_bytes, shape_oracle, zip_tools):
    files = {**adapter_bytes, f"weights{suffix}": zip_tools.torch_saved_bytes()}
    package = zip_tools.build_package(import_area / "zips" / "w.zip", files)
    refuse(import_area, package, shape_oracle, rf"weights\{suffix}: \{suffix} files are pickle-based weights")


def test_other_file_types_are_refused(import_area, adapter_bytes, shape_oracle, zip_tools):
    package = zip_tools.build_package(import_area / "zips" / "t.zip", {**adapter_bytes, "run.sh": b"rm -rf ~\n"})
    refuse(import_area, package, shape_oracle, r"run\.sh: file type '\.sh' is not allowed")


@pytest.mark.parametrize("kind", ["torch.save", "raw pickle"])
def test_a_pickle_renamed_safetensors_is_refused(kind, import_area, adapter_bytes, shape_oracle, zip_tools):
    payload = zip_tools.torch_saved_bytes() if kind == "torch.save" else b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00}\x94."
    files = {**adapter_bytes, "adapter_model.safetensors": payload}
    package = zip_tools.build_package(import_area / "zips" / "r.zip", files)
    expected = r"a ZIP archive \(the torch\.save format" if kind == "torch.save" else r"a pickle \(protocol 4\)"
    refuse(import_area, package, shape_oracle, rf"adapter_model\.safetensors: not a safetensors file: it is {expected}")


def test_a_truncated_safetensors_is_refused(import_area, adapter_bytes, shape_oracle, zip_tools):
    weights = adapter_bytes["adapter_model.safetensors"]
    files = {**adapter_bytes, "adapter_model.safetensors": weights[: len(weights) - 100]}
    package = zip_tools.build_package(import_area / "zips" / "tr.zip", files)
    refuse(import_area, package, shape_oracle, r"adapter_model\.safetensors: safetensors file truncated: tensors need")
    files["adapter_model.safetensors"] = weights[:5]
    package = zip_tools.build_package(import_area / "zips" / "tr5.zip", files)
    refuse(import_area, package, shape_oracle, r"truncated safetensors file \(5 bytes")


def test_a_huge_header_length_is_refused_without_reading_it(import_area, adapter_bytes, shape_oracle, zip_tools):
    files = {**adapter_bytes, "adapter_model.safetensors": struct.pack("<Q", 2**40) + b"{}"}
    package = zip_tools.build_package(import_area / "zips" / "hh.zip", files)
    refuse(import_area, package, shape_oracle, r"header length 1,099,511,627,776 bytes exceeds the 16,777,216-byte limit")


def test_wrong_shapes_are_refused(import_area, adapter_bytes, shape_oracle, zip_tools, tiny_lora_decoder):
    import torch
    from peft import get_peft_model_state_dict

    state = {k: v.clone() for k, v in get_peft_model_state_dict(tiny_lora_decoder).items()}
    key = next(k for k in sorted(state) if k.endswith("q_proj.lora_A.weight"))
    state[key] = torch.zeros(state[key].shape[0], state[key].shape[1] + 1)
    files = {**adapter_bytes, "adapter_model.safetensors": save_safetensors(state)}
    package = zip_tools.build_package(import_area / "zips" / "ws.zip", files)
    refuse(import_area, package, shape_oracle,
           rf"wrong shapes: adapter_model\.safetensors: tensor '{re.escape(key)}' has shape \[4, 65\], "
           r"the base model expects \[4, 64\]")


def test_tensors_for_modules_the_base_lacks_are_refused(import_area, adapter_bytes, shape_oracle, zip_tools):
    import torch

    state = {"base_model.model.model.layers.9.self_attn.q_proj.lora_A.weight": torch.zeros(4, 64)}
    files = {**adapter_bytes, "adapter_model.safetensors": save_safetensors(state)}
    package = zip_tools.build_package(import_area / "zips" / "wm.zip", files)
    refuse(import_area, package, shape_oracle, r"layers\.9\.self_attn\.q_proj\.lora_A\.weight' matches no parameter")


def test_text_files_must_be_text(import_area, adapter_bytes, shape_oracle, zip_tools):
    package = zip_tools.build_package(import_area / "zips" / "nul.zip", {**adapter_bytes, "README.md": b"ok\x00hidden"})
    refuse(import_area, package, shape_oracle, r"README\.md: NUL byte")
    package = zip_tools.build_package(import_area / "zips" / "js.zip", {**adapter_bytes, "adapter_config.json": b'{"r": 4,\n oops}'})
    refuse(import_area, package, shape_oracle, r"adapter_config\.json: invalid JSON at line 2, column 2")


def test_a_file_that_is_not_a_zip_is_refused(import_area, shape_oracle):
    fake = import_area / "zips" / "fake.zip"
    fake.write_bytes(b"not a zip at all")
    refuse(import_area, fake, shape_oracle, r"not a readable ZIP archive")
