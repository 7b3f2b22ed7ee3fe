"""A package may carry a SentencePiece tokenizer model (`tokenizer.model`, protobuf data, not code):
it imports byte for byte; a `.model` file that is not one (a renamed pickle, a truncated or
padded model) is refused, naming the file, and nothing is written."""

from __future__ import annotations

import struct

import pytest

from deepsynth.errors import PackageRefused
from deepsynth.export.safe_import import import_package
from deepsynth.export.sentencepiece_check import NotSentencePiece, check_sentencepiece_model


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field(number: int, wire: int, payload: bytes) -> bytes:
    tag = varint(number << 3 | wire)
    return tag + (varint(len(payload)) + payload if wire == 2 else payload)


def piece(text: str, score: float, kind: int = 1) -> bytes:
    return field(1, 2, text.encode()) + field(2, 5, struct.pack("<f", score)) + field(3, 0, varint(kind))


def sentencepiece_model(words=("<unk>", "<s>", "</s>", "▁the", "▁page")) -> bytes:
    """A ModelProto as sentencepiece writes one: pieces, then trainer and normalizer specs."""
    pieces = b"".join(field(1, 2, piece(word, -float(i))) for i, word in enumerate(words))
    trainer = field(2, 2, field(1, 2, b"corpus.txt") + field(3, 0, varint(2)))  # input, model_type BPE
    normalizer = field(3, 2, field(1, 2, b"nmt_nfkc") + field(3, 0, varint(1)))
    return pieces + trainer + normalizer


def test_the_checker_counts_pieces_and_names_what_is_wrong():
    model = sentencepiece_model()
    assert check_sentencepiece_model(model, "tokenizer.model") == 5
    with pytest.raises(NotSentencePiece, match=r"tokenizer\.model: not a SentencePiece tokenizer model: .*runs past"):
        check_sentencepiece_model(model[:-3], "tokenizer.model")
    with pytest.raises(NotSentencePiece, match="field 64 .* is not a field of a SentencePiece ModelProto"):
        check_sentencepiece_model(b"\x80\x04\x95" + model, "tokenizer.model")  # a pickle's first bytes
    with pytest.raises(NotSentencePiece, match="holds no pieces"):
        check_sentencepiece_model(field(2, 2, b""), "tokenizer.model")
    with pytest.raises(NotSentencePiece, match="piece 0: its text is not UTF-8"):
        check_sentencepiece_model(field(1, 2, field(1, 2, b"\xff\xfe")), "spiece.model")


def test_a_package_with_a_tokenizer_model_imports_byte_for_byte(tmp_path, adapter_bytes, shape_oracle, zip_tools):
    model = sentencepiece_model()
    files = {**adapter_bytes, "merged/tokenizer.model": model, "merged/tokenizer_config.json": b"{}"}
    package = zip_tools.build_package(tmp_path / "ok.zip", files)
    imported = import_package(package, tmp_path / "imports" / "pkg", shape_oracle=shape_oracle)
    assert (imported.path / "merged" / "tokenizer.model").read_bytes() == model


@pytest.mark.parametrize("payload, pattern", [
    (None, r"merged/tokenizer\.model: not a SentencePiece tokenizer model: field \d+ \(wire type"),  # torch.save
    (b"", r"merged/tokenizer\.model: not a SentencePiece tokenizer model: it holds no pieces"),
    (b"#!/bin/sh\nrm -rf ~\n", r"merged/tokenizer\.model: not a SentencePiece tokenizer model"),
])
def test_a_model_file_that_is_not_sentencepiece_is_refused(tmp_path, adapter_bytes, shape_oracle, zip_tools,
                                                            payload, pattern):
    payload = zip_tools.torch_saved_bytes() if payload is None else payload
    files = {**adapter_bytes, "merged/tokenizer.model": payload}
    package = zip_tools.build_package(tmp_path / "bad.zip", files)
    with pytest.raises(PackageRefused, match=pattern):
        import_package(package, tmp_path / "imports" / "pkg", shape_oracle=shape_oracle)
    assert not (tmp_path / "imports").exists()
