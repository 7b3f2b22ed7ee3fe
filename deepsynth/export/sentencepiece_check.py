"""Checking a SentencePiece tokenizer model (`tokenizer.model`, `spiece.model`) without loading it.

A `.model` file is a serialized protobuf `ModelProto` (sentencepiece's `sentencepiece_model.proto`):
data, not code; nothing in it is executed when a tokenizer reads it. A package may carry one where a
merged decoder's tokenizer is SentencePiece-based (Llama-, T5-, Gemma-style). What is accepted is
checked here from the protobuf wire format alone (no `sentencepiece` package needed), so that a file
named `.model` is what it says and not, say, a renamed pickle:

    ModelProto:   1 pieces (repeated SentencePiece)   2 trainer_spec   3 normalizer_spec
                  4 self_test_data                    5 denormalizer_spec
                  (every field a length-delimited message, wire type 2)
    SentencePiece: 1 piece (UTF-8 string)  2 score (float, wire type 5)  3 type (enum, varint)

Every byte must belong to one of these fields, every length must stay inside the file, and there
must be at least one piece. A pickle starts with 0x80 (field 16, a varint): refused at the first byte.
"""

from __future__ import annotations

MODEL_FIELDS = {1: "pieces", 2: "trainer_spec", 3: "normalizer_spec", 4: "self_test_data", 5: "denormalizer_spec"}
"""ModelProto's field numbers: each a length-delimited message."""
PIECE_FIELDS = {1: 2, 2: 5, 3: 0}
"""SentencePiece's field numbers -> their wire type (2 string, 5 fixed32 float, 0 varint)."""
VARINT, FIXED64, LENGTH_DELIMITED, FIXED32 = 0, 1, 2, 5


class NotSentencePiece(ValueError):
    """The bytes are not a SentencePiece ModelProto; the message says where they stop being one."""


def _varint(data: bytes, position: int) -> tuple[int, int]:
    """(value, next position) of the base-128 varint at `position` (at most 10 bytes)."""
    value = 0
    for shift in range(0, 70, 7):
        if position >= len(data):
            raise NotSentencePiece(f"varint runs past the end of the file at byte {position}")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
    raise NotSentencePiece(f"varint longer than 10 bytes before byte {position}")


def _fields(data: bytes, start: int, end: int):
    """(field number, wire type, value start, value end) for each field in data[start:end]."""
    position = start
    while position < end:
        tag, position = _varint(data, position)
        number, wire = tag >> 3, tag & 7
        if wire == VARINT:
            value_start = position
            _, position = _varint(data, position)
        elif wire == LENGTH_DELIMITED:
            length, value_start = _varint(data, position)
            position = value_start + length
        elif wire == FIXED32:
            value_start, position = position, position + 4
        elif wire == FIXED64:
            value_start, position = position, position + 8
        else:
            raise NotSentencePiece(f"byte {start}: wire type {wire} is not one a SentencePiece model uses")
        if position > end:
            raise NotSentencePiece(f"field {number} at byte {value_start} runs past its end ({position} > {end})")
        yield number, wire, value_start, position


def _check_piece(data: bytes, start: int, end: int, index: int) -> None:
    for number, wire, value_start, value_end in _fields(data, start, end):
        if PIECE_FIELDS.get(number) != wire:
            raise NotSentencePiece(f"piece {index}: field {number} (wire type {wire}) is not a SentencePiece field")
        if number == 1:
            try:
                data[value_start:value_end].decode("utf-8")
            except UnicodeDecodeError:
                raise NotSentencePiece(f"piece {index}: its text is not UTF-8") from None


def check_sentencepiece_model(data: bytes, where: str) -> int:
    """The number of pieces in a SentencePiece model's bytes; `NotSentencePiece` naming `where`
    when they are anything else."""
    pieces = 0
    try:
        for number, wire, start, end in _fields(data, 0, len(data)):
            if number not in MODEL_FIELDS or wire != LENGTH_DELIMITED:
                raise NotSentencePiece(f"field {number} (wire type {wire}) at byte {start} is not a field of "
                                       "a SentencePiece ModelProto")
            if number == 1:
                _check_piece(data, start, end, pieces)
                pieces += 1
    except NotSentencePiece as error:
        raise NotSentencePiece(f"{where}: not a SentencePiece tokenizer model: {error}") from None
    if not pieces:
        raise NotSentencePiece(f"{where}: not a SentencePiece tokenizer model: it holds no pieces")
    return pieces
