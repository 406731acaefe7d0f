"""The result tables' Parquet twins: the CSV's rows and values, typed, named for query engines, naming the run."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow.parquet
import pytest

from include.segmentation import parquet_tables, results
from include.segmentation.parquet_tables import column_name, parquet_bytes, parquet_name

RUN_ID = "scheduled__2026-12-06T02:00:00+00:00"


def _segments(rows: int = 6) -> pd.DataFrame:
    """segments.csv's frame as extract_attributes builds it (results.published_segments)."""
    components = results.components_frame(
        pd.Index([f"State {i}-County {i}" for i in range(rows)]), np.linspace(-1, 1, rows * 2).reshape(rows, 2)
    )
    segments = results.segments_frame(
        components, {"closest_cluster": np.arange(rows) % 3, "distance_to_cluster": np.linspace(0, 1, rows)}
    )
    segments[results.CLUSTER] = segments["segment"]
    counties = pd.DataFrame(
        {results.FIPS: [str(1001 + i) for i in range(rows - 1)] + ["not a code"]}, index=components.index
    )
    return results.published_segments(segments, counties, {0: "Rural", 1: "Urban", 2: "=cmd|' /C calc'!A0"})


def _read(data: bytes) -> pyarrow.Table:
    return pyarrow.parquet.read_table(io.BytesIO(data))


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("State-County", "state_county"),
        ("CensusId", "census_id"),
        ("segment_label", "segment_label"),
        ("c_12", "c_12"),
        ("Income mean [US$]", "income_mean_us"),
        ("Transit pop-weighted mean [%]", "transit_pop_weighted_mean_pct"),
    ],
)
def test_a_csv_header_becomes_a_lowercase_name_a_query_engine_takes_unquoted(header: str, name: str) -> None:
    assert column_name(header) == name


def test_a_header_with_no_letter_or_digit_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match=r"column '\$' has no letter or digit"):
        column_name("$")


def test_two_headers_that_would_share_a_name_are_refused_naming_the_name() -> None:
    frame = pd.DataFrame({"Income mean": [1.0], "income-mean": [2.0]})
    with pytest.raises(ValueError, match=r"segment_profiles.csv: columns \['income_mean'\]"):
        parquet_bytes(frame, "segment_profiles.csv", RUN_ID)


def test_segments_parquet_holds_the_csvs_rows_and_values_with_their_types() -> None:
    segments = _segments()
    table = _read(parquet_bytes(segments, results.PROFILES, RUN_ID))
    from_csv = pd.read_csv(io.BytesIO(results.csv_bytes(segments)), dtype={results.FIPS: str})
    assert table.column_names == [column_name(header) for header in from_csv.columns]
    types = {field.name: str(field.type) for field in table.schema}
    assert (types["segment"], types["cluster"], types["distance"], types["c_1"]) == (
        "int64",
        "int64",
        "double",
        "double",
    )
    assert types["segment_label"].startswith("dictionary<values=string")
    frame = table.to_pandas()
    # The same rows in the same order; the CSV's formula guard (a leading ') is the CSV's alone.
    assert frame["state_county"].tolist() == from_csv["State-County"].tolist()
    np.testing.assert_array_equal(frame[["c_1", "c_2", "distance"]], from_csv[["c_1", "c_2", "distance"]])
    assert frame["census_id"].tolist()[:2] == ["01001", "01002"] and frame["census_id"].isna().tolist()[-1]
    assert from_csv["segment_label"].tolist()[2] == "'=cmd|' /C calc'!A0"
    assert frame["segment_label"].tolist()[2] == "=cmd|' /C calc'!A0"


def test_the_file_names_its_run_and_table_and_keeps_each_columns_csv_header() -> None:
    schema = _read(parquet_bytes(_segments(), "segments.csv", RUN_ID)).schema
    assert schema.metadata[b"popseg.run_id"] == RUN_ID.encode()
    assert schema.metadata[b"popseg.table"] == b"segments.csv"
    headers = [field.metadata[b"popseg.csv_header"].decode() for field in schema]
    assert headers == list(_segments().columns)


def test_pandas_reads_it_back_with_the_labels_as_a_categorical() -> None:
    frame = pd.read_parquet(io.BytesIO(parquet_bytes(_segments(), "segments.csv", RUN_ID)))
    assert isinstance(frame["segment_label"].dtype, pd.CategoricalDtype) and len(frame) == 6


def test_a_large_table_is_split_into_row_groups_a_reader_can_take_in_parallel(monkeypatch) -> None:
    monkeypatch.setattr(parquet_tables, "ROW_GROUP_ROWS", 4)
    data = parquet_bytes(_segments(10), "segments.csv", RUN_ID)
    metadata = pyarrow.parquet.ParquetFile(io.BytesIO(data)).metadata
    assert [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)] == [4, 4, 2]


def test_the_parquet_twin_of_a_csv_is_named_after_it() -> None:
    assert parquet_name("segment_changes.csv") == "segment_changes.parquet"
