from __future__ import annotations

import datasets
import pytest

from codelm.data.corpus import (
    count_documents,
    iter_documents,
    line_stats,
    make_record,
    write_corpus,
)
from codelm.errors import InputError


def test_line_stats_exact():
    assert line_stats("ab\n\ncdef") == {
        "size": 8,
        "lines": 3,
        "max_line_length": 4,
        "avg_line_length": 2.0,
        "alphanum_fraction": 6 / 8,
    }


def test_corpus_round_trip_and_datasets_loads_splits(tmp_path):
    train = [make_record("r1", f"f{i}.py", f"x = {i}\n", "python") for i in range(5)]
    val = [make_record("r2", "g.py", "y = 1\n", "python")]
    write_corpus({"train": train, "validation": val}, tmp_path, shard_size=2)
    assert len(list((tmp_path / "train").glob("*.parquet"))) == 3
    assert [d["content"] for d in iter_documents(tmp_path, "train")] == [f"x = {i}\n" for i in range(5)]
    assert count_documents(tmp_path, "validation") == 1
    loaded = datasets.load_dataset("parquet", data_dir=str(tmp_path))
    assert sorted(loaded) == ["train", "validation"]
    assert loaded["train"].num_rows == 5 and loaded["validation"][0]["repo"] == "r2"


def test_missing_split_is_input_error(tmp_path):
    write_corpus({"train": [make_record("r", "a.py", "a\n", "python")]}, tmp_path)
    with pytest.raises(InputError, match=r"has no 'test' split \(has: train\)"):
        list(iter_documents(tmp_path, "test"))
    with pytest.raises(InputError, match="does not exist"):
        list(iter_documents(tmp_path / "nope", "train"))
