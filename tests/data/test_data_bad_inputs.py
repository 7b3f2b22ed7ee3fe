"""The bad-input catalogue: each case is a clear InputError, and no output (or staging) is left behind."""

from __future__ import annotations

import pytest

from deepsynth.configuration import ConfigError
from deepsynth.data import DatasetConfig, build_dataset, save_upload, validate_upload
from deepsynth.data.pool import RenderPool
from deepsynth.errors import InputError

HEAD = "text,summary\nok,fine\n"

CASES = [
    # (case id, file name, content, DatasetConfig overrides, expected message regex)
    ("csv-stray-quote", "q.csv", 'text,summary\n"abc"def,x\n', {},
     r"q\.csv: line 2: malformed CSV: ',' expected after '\"'.*doubled"),
    ("csv-unclosed-quote", "u.csv", 'text,summary\nok,fine\n"abc,x\nmore,y\n', {},
     r"u\.csv: line 3: malformed CSV: a quoted field is never closed"),
    ("csv-ragged-row", "r.csv", HEAD + "a,b,c\n", {},
     r"r\.csv: line 3: 3 fields, but the header has 2 \(text, summary\)"),
    ("csv-short-row", "s.csv", HEAD + "lonely\n", {}, r"s\.csv: line 3: 1 fields, but the header has 2"),
    ("csv-duplicate-header", "d.csv", "text,text\na,b\n", {}, r"line 1: duplicate column names \['text'\]"),
    ("jsonl-bad-line", "b.jsonl", '{"text": "a", "summary": "b"}\n\n{"text": "c", summary: 1}\n', {},
     r"b\.jsonl: line 3, column 15: invalid JSON"),
    ("jsonl-not-object", "n.jsonl", '{"text": "a", "summary": "b"}\n[1, 2]\n', {},
     r"n\.jsonl: line 2: expected a JSON object, got list"),
    ("jsonl-wrong-type", "w.jsonl", '{"text": {"nested": 1}, "summary": "b"}\n', {},
     r"w\.jsonl line 1: column 'text' \(text\) holds a dict"),
    ("json-not-list", "o.json", '{"text": "a"}', {}, r"expected a JSON list of objects"),
    ("fake-parquet", "f.parquet", b"id,text\n1,not parquet at all\n", {}, r"f\.parquet: not a Parquet file"),
    ("corrupt-parquet", "c.parquet", b"PAR1" + b"\x13" * 64 + b"PAR1", {}, r"c\.parquet: unreadable Parquet"),
    ("empty-csv", "e.csv", b"", {}, r"e\.csv: the file is empty \(0 bytes\)"),
    ("empty-jsonl", "e.jsonl", b"", {}, r"e\.jsonl: the file is empty"),
    ("empty-parquet", "e.parquet", b"", {}, r"e\.parquet: the file is empty"),
    ("blank-jsonl", "blank.jsonl", "\n  \n\r\n", {}, r"holds only whitespace"),
    ("header-only-csv", "h.csv", "text,summary\n", {}, r"h\.csv: the header has no data rows"),
    ("zero-rows-after-filtering", "z.csv", "text,summary\na,\nb,  \n", {},
     r"z\.csv: no usable documents: read 2 rows, dropped empty summary 2"),
    ("filtered-by-length", "fl.csv", HEAD, {"min_summary_chars": 50},
     r"no usable documents: read 1 rows, dropped summary too short 1.*min_summary_chars=50"),
    ("missing-column", "m.csv", HEAD, {"text_column": "body"},
     r"m\.csv: no column 'body' for the text \(--text-column\); columns: text, summary"),
    ("missing-json-field", "m.jsonl", '{"text": "a", "summary": "b"}\n', {"summary_column": "tldr"},
     r"m\.jsonl: no row has a 'tldr' field for the summary \(--summary-column\); fields: text, summary"),
    ("undetectable-columns", "x.csv", "alpha,beta\n1,2\n", {},
     r"cannot tell which column holds the text; name it with --text-column; columns: alpha, beta"),
    ("same-column-twice", "sc.csv", HEAD, {"summary_column": "text"}, r"both read from column 'text'"),
    ("non-utf8", "l1.csv", HEAD.encode() + b"caf\xe9 latte,x\n", {},
     r"l1\.csv: not valid UTF-8 at line 3, column 4 \(byte offset 24: 0xe9\)"),
    ("nul-byte", "nul.jsonl", b'{"text": "a", "summary": "b"}\n{"te\x00xt": 1}\n', {},
     r"nul\.jsonl: NUL byte at line 2, column 5 \(byte offset 34\)"),
    ("utf16", "u16.csv", "text,summary\na,b\n".encode("utf-16"), {}, r"the file is UTF-16"),
    ("oversized-file", "big.csv", HEAD + "x" * 5000 + ",y\n", {"max_input_bytes": 1000},
     r"big\.csv: the file is 4\.9 KiB, over the 1000 bytes limit \(max_input_bytes / --max-input-mb\)"),
]


@pytest.mark.parametrize("name, content, overrides, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_a_clear_error_and_writes_nothing(tmp_path, write_file, make_config, name, content,
                                                       overrides, message):
    path = write_file(name, content)
    out_parent = tmp_path / "outputs"
    out_parent.mkdir()
    with pytest.raises(InputError, match=message):
        build_dataset(make_config(path, **overrides), out_parent / "ds")
    assert list(out_parent.iterdir()) == []


def test_missing_file(tmp_path, make_config):
    with pytest.raises(InputError, match=r"nothere\.csv: no such file"):
        build_dataset(make_config(tmp_path / "nothere.csv"), tmp_path / "ds")
    assert not (tmp_path / "ds").exists()


def test_unsupported_source_is_a_config_error_naming_the_field():
    with pytest.raises(ConfigError) as caught:
        DatasetConfig(source="notes.docx", language="de", limit=-1, validation_fraction=0.6, test_fraction=0.5)
    fields = [field for field, _ in caught.value.problems]
    assert fields == ["source", "language", "limit", "test_fraction"]


def test_failure_while_rendering_leaves_nothing(tmp_path, docs_jsonl, make_config):
    class FailingPool(RenderPool):
        def render(self, texts, config, instruction=None):
            produced = super().render(texts, config, instruction)
            yield next(produced)
            yield next(produced)
            raise RuntimeError("renderer crashed")

    out_parent = tmp_path / "outputs"
    out_parent.mkdir()
    with pytest.raises(RuntimeError, match="renderer crashed"):
        build_dataset(make_config(docs_jsonl), out_parent / "ds", pool=FailingPool(workers=1))
    assert list(out_parent.iterdir()) == []


def test_existing_output_is_not_overwritten_without_consent(tmp_path, docs_jsonl, make_config):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    with pytest.raises(InputError, match="already exists and is not empty.*--overwrite"):
        build_dataset(make_config(docs_jsonl), out)
    with pytest.raises(InputError, match="not a DeepSynth dataset.*refusing to overwrite"):
        build_dataset(make_config(docs_jsonl), out, overwrite=True)
    assert [p.name for p in out.iterdir()] == ["precious.txt"]


def test_oversized_upload_is_refused_and_not_saved(tmp_path):
    with pytest.raises(InputError, match=r"docs\.csv: the file is 2\.0 KiB, over the 1000 bytes limit"):
        save_upload(b"text,summary\n" + b"a" * 2048, "docs.csv", tmp_path, max_bytes=1000)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("data, filename, message", [
    (b"", "a.csv", "the file is empty"),
    (b"not parquet", "a.parquet", "not a Parquet file"),
    (b"text\n\xff\n", "a.jsonl", r"not valid UTF-8 at line 2, column 1 \(byte offset 5"),
    (b"text\x00\n", "a.csv", "NUL byte at line 1"),
    (b"text\n", "a.xlsx", "unsupported file type '.xlsx'"),
])
def test_upload_validation(data, filename, message):
    with pytest.raises(InputError, match=message):
        validate_upload(data, filename)


def test_upload_is_saved_with_a_safe_name(tmp_path):
    saved = save_upload(b"text,summary\na,b\n", "../../etc/my docs;rm -rf.csv", tmp_path)
    assert saved.parent == tmp_path
    assert saved.name == "my_docs_rm_-rf.csv"
    assert validate_upload(saved.read_bytes(), saved.name) == "csv"
