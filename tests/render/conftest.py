"""Fixtures for the rendering tests."""

import pytest
from render_helpers import PARAGRAPH


@pytest.fixture
def paragraph():
    return PARAGRAPH
