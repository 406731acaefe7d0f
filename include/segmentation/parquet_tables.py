"""The result tables as Parquet beside their CSVs: typed columns, query-engine names, the run in the metadata.

Each published CSV (segments.csv, centroids.csv, segment_profiles.csv, pca_components.csv,
segment_changes.csv) gets a `.parquet` twin with the same rows in the same order. What differs is what a
query engine needs: column types kept (segment IDs int64, components float64, FIPS codes and labels text, the
label dictionary-encoded), no CSV formula guard (a Parquet cell is data, never a formula), and column names an
engine can use unquoted. Athena lowercases names and Glue wants lowercase UTF-8 without special characters
(https://docs.aws.amazon.com/athena/latest/ug/tables-databases-columns-names.html), and Athena maps Parquet
columns by name: so `State-County` is `state_county`, `CensusId` is `census_id` and `Income mean [US$]` is
`income_mean_us`. Each field's metadata keeps its CSV header (`popseg.csv_header`); the schema's metadata names
the run (`popseg.run_id`) and the table (`popseg.table`). Written by row groups of ROW_GROUP_ROWS, so that a
reader (Spark, Athena, pyarrow's dataset) can split a large file.
"""

from __future__ import annotations

import io
import re

import pandas as pd
import pyarrow
import pyarrow.parquet

# Rows per row group: ≈ 10–30 MB of segments at 10–30 columns, inside the 128 MB–1 GB Parquet recommends for
# one row group, and a million-row file still splits into 8 parts a reader can take in parallel.
ROW_GROUP_ROWS = 131_072
# The metadata keys (bytes, as Parquet's key-value metadata stores them).
RUN_ID, TABLE, CSV_HEADER = b"popseg.run_id", b"popseg.table", b"popseg.csv_header"

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")  # CensusId -> Census_Id
_NOT_A_WORD = re.compile(r"[^a-z0-9]+")


def parquet_name(csv_name: str) -> str:
    """`segments.csv` -> `segments.parquet`."""
    return csv_name.removesuffix(".csv") + ".parquet"


def column_name(header: str) -> str:
    """A CSV header as a lowercase snake_case column name: "State-County" -> "state_county", "CensusId" ->
    "census_id", "Transit pop-weighted mean [%]" -> "transit_pop_weighted_mean_pct". ValueError when nothing of
    it is a letter or digit."""
    name = _NOT_A_WORD.sub("_", _CAMEL.sub("_", header.replace("%", " pct")).lower()).strip("_")
    if not name:
        raise ValueError(f"column {header!r} has no letter or digit to name a Parquet column by")
    return name


def table(frame: pd.DataFrame, table_name: str, run_id: str) -> pyarrow.Table:
    """`frame` (a result table as its CSV is written: columns only, no index) as an Arrow table with
    column_name names, each field's CSV header in its metadata and the run and table in the schema's.
    ValueError when two headers give the same name."""
    names = [column_name(str(header)) for header in frame.columns]
    clashes = sorted({name for name in names if names.count(name) > 1})
    if clashes:
        raise ValueError(f"{table_name}: columns {clashes} would each name more than one Parquet column")
    arrow = pyarrow.Table.from_pandas(frame.set_axis(names, axis=1), preserve_index=False)
    fields = [
        field.with_metadata({CSV_HEADER: str(header).encode()})
        for field, header in zip(arrow.schema, frame.columns, strict=True)
    ]
    metadata = {**(arrow.schema.metadata or {}), RUN_ID: run_id.encode(), TABLE: table_name.encode()}
    return arrow.cast(pyarrow.schema(fields, metadata=metadata))


def parquet_bytes(frame: pd.DataFrame, table_name: str, run_id: str) -> bytes:
    """table() as a Parquet file (zstd, row groups of ROW_GROUP_ROWS)."""
    buffer = io.BytesIO()
    pyarrow.parquet.write_table(
        table(frame, table_name, run_id), buffer, row_group_size=ROW_GROUP_ROWS, compression="zstd"
    )
    return buffer.getvalue()
