"""Fixtures shared by the whole suite."""

from __future__ import annotations

import pytest
import torch


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def edn_file(tmp_path):
    """Write EDN text to a file under tmp_path and return its path."""

    def write(text: str, name: str = "model.edn"):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
