"""Every source reads into the same Records: CSV, TSV, JSONL, JSON, Parquet, hf:, wiki, aclsum."""

from __future__ import annotations

import json

import pytest

from deepsynth.data import collect_records, preview_records, read_records
from deepsynth.data.bundled import detokenize
from deepsynth.data.sources import parse_hf_source
from deepsynth.errors import InputError


def test_csv_with_column_mapping_and_multiline_quoted_field(write_file, make_config):
    path = write_file("news.csv", 'key,body,abstract\nn1,"First line,\nsecond line",Short one\nn2,"Say ""hi""",Two\n')
    records = read_records(make_config(path, text_column="body", summary_column="abstract", id_column="key"))
    assert [(r.id, r.text, r.summary) for r in records] == [
        ("n1", "First line,\nsecond line", "Short one"), ("n2", 'Say "hi"', "Two")]


def test_csv_bom_and_crlf_are_handled(write_file, make_config):
    path = write_file("crlf.csv", b'\xef\xbb\xbfid,text,summary\r\n1,"para one\r\npara two",s1\r\n2,plain,s2\r\n')
    records = read_records(make_config(path))
    assert [r.id for r in records] == ["1", "2"]  # the BOM is not part of the first column name
    assert records[0].text == "para one\npara two"  # CRLF inside a field normalised to \n
    assert all("\r" not in r.text + r.summary for r in records)


def test_tsv(write_file, make_config):
    path = write_file("docs.tsv", "text\tsummary\na, b, c\tabc\n")
    assert read_records(make_config(path))[0].text == "a, b, c"


def test_jsonl_with_bom_and_crlf_autodetects_columns_and_numbers_ids(write_file, make_config):
    path = write_file("arts.jsonl", '\ufeff{"article": "A long article.", "highlights": "Short."}\n\n'
                                    '{"article": "Another one.", "highlights": "Two."}\r\n')
    collected = collect_records(make_config(path))
    assert collected.columns == {"text": "article", "summary": "highlights", "id": None, "prompt": None}
    assert [r.id for r in collected.records] == ["arts-000000", "arts-000001"]
    assert collected.records[1].summary == "Two."


def test_json_list(write_file, make_config):
    path = write_file("list.json", json.dumps([{"text": "Doc one.", "summary": "One."}]))
    assert read_records(make_config(path))[0].summary == "One."


def test_parquet(tmp_path, make_config):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "docs.parquet"
    pq.write_table(pa.table({"doc": ["x y z", "p q r"], "tldr": ["xyz", "pqr"], "id": [7, 8]}), path)
    records = read_records(make_config(path, text_column="doc", summary_column="tldr"))
    assert [(r.id, r.text, r.summary) for r in records] == [("7", "x y z", "xyz"), ("8", "p q r", "pqr")]


def test_hf_source_from_a_save_to_disk_folder(tmp_path, make_config):
    import datasets

    folder = tmp_path / "saved"
    datasets.DatasetDict({
        "train": datasets.Dataset.from_dict({"document": ["train doc"], "summary": ["t"]}),
        "test": datasets.Dataset.from_dict({"document": ["test doc one", "test doc two"], "summary": ["a", "b"]}),
    }).save_to_disk(str(folder))
    assert [r.text for r in read_records(make_config(f"hf:{folder}"))] == ["train doc"]
    assert [r.text for r in read_records(make_config(f"hf:{folder}@test"))] == ["test doc one", "test doc two"]
    with pytest.raises(InputError, match=r"no split 'dev'; splits: train, test"):
        read_records(make_config(f"hf:{folder}@dev"))


def test_hf_source_from_a_local_data_folder(tmp_path, make_config, hf_cache):
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "train.csv").write_text("text,summary\nhello world,hi\n", encoding="utf-8")
    assert read_records(make_config(f"hf:{folder}"))[0].summary == "hi"


def test_hf_hub_unreachable_is_a_clear_error(make_config, hf_cache, monkeypatch):
    monkeypatch.setattr("datasets.config.HF_HUB_OFFLINE", True)
    with pytest.raises(InputError, match=r"'someone/corpus' is not in the local Hugging Face cache.*"
                                         r"HF_HUB_OFFLINE"):
        read_records(make_config("hf:someone/corpus:v2@train"))


def test_parse_hf_source():
    assert parse_hf_source("hf:cnn_dailymail:3.0.0@validation") == ("cnn_dailymail", "3.0.0", "validation")
    assert parse_hf_source("hf:org/name") == ("org/name", None, None)


@pytest.mark.parametrize("language, first_id", [("en", "20th-century classical music"), ("fr", "Julie Andrews")])
def test_wiki(make_config, language, first_id):
    records = read_records(make_config("wiki", language=language, limit=5))
    assert len(records) == 5
    assert records[0].id == first_id
    assert all(len(r.text) > len(r.summary) > 0 for r in records)


def test_wiki_spanish_and_alternative_summary_column(make_config):
    records = read_records(make_config("wiki", language="es", limit=3, summary_column="title"))
    assert [r.summary for r in records] == [r.id for r in records]


def test_wiki_drops_entries_without_description(make_config):
    collected = collect_records(make_config("wiki", language="fr"))
    assert collected.counts["dropped_empty_summary"] > 0  # 308 fr entries have no description
    assert collected.counts["kept"] + collected.counts["dropped_empty_summary"] == collected.counts["rows_read"]


def test_aclsum(make_config):
    collected = collect_records(make_config("aclsum"))
    assert len(collected.records) == 250
    first = collected.records[0]
    assert first.id == "P06-1112"
    assert first.text.startswith("In this paper, we explore correlation")  # detokenised
    assert len(first.text.split()) > 300
    assert first.summary.count(".") >= 3  # challenge + approach + outcome


def test_aclsum_single_aspect(make_config):
    record = read_records(make_config("aclsum", summary_column="outcome", limit=1))[0]
    assert record.summary.startswith("The proposed method outperforms")


def test_detokenize():
    assert detokenize("up to 20 % in MRR ( mean ) , it does n't .") == "up to 20% in MRR (mean), it doesn't."


def test_preview_reads_only_what_it_shows(write_file, make_config):
    # a bad line after the previewed rows is not reached
    path = write_file("p.jsonl", '{"text": "a", "summary": "b"}\n{"text": "c", "summary": "d"}\n{broken\n')
    assert [r.text for r in preview_records(make_config(path), 2)] == ["a", "c"]
    with pytest.raises(InputError, match="line 3"):
        read_records(make_config(path))


def test_limit_counts_usable_rows(write_file, make_config):
    path = write_file("l.csv", "text,summary\na,\nb,x\nc,y\nd,z\n")
    records = read_records(make_config(path, limit=2))
    assert [r.text for r in records] == ["b", "c"]


def test_duplicate_ids_get_suffixes(write_file, make_config):
    path = write_file("dup.csv", "id,text,summary\nx,a,b\nx,c,d\n")
    collected = collect_records(make_config(path))
    assert [r.id for r in collected.records] == ["x", "x-2"]
    assert any("duplicate ids" in w for w in collected.warnings)


def test_length_filters(write_file, make_config):
    path = write_file("len.csv", "text,summary\nshort,s\na much longer text here,s\n")
    collected = collect_records(make_config(path, min_text_chars=6))
    assert [r.text for r in collected.records] == ["a much longer text here"]
    assert collected.counts["dropped_text_too_short"] == 1
