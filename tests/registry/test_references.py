"""Registry references are built and recognised by the library (pages never spell `models:/`)."""

from deepsynth.tracking.registry import alias_uri, is_registry_reference, parse_model_uri, version_uri


def test_references_round_trip_through_the_parser():
    assert parse_model_uri(alias_uri("summarizer", "champion")) == ("summarizer", "champion", None)
    assert parse_model_uri(version_uri("summarizer", 3)) == ("summarizer", None, "3")


def test_a_run_id_or_folder_is_not_a_registry_reference():
    assert is_registry_reference(version_uri("summarizer", 1))
    assert not is_registry_reference("0123456789abcdef0123456789abcdef")
    assert not is_registry_reference("/tmp/adapter")
