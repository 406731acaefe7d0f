"""The census data contract: what loads, what is refused and how the refusal reads."""

from __future__ import annotations

import gzip
import io
import logging

import numpy as np
import pandas as pd
import pytest

from include.segmentation import census
from include.segmentation.census import (
    COLUMNS,
    COUNT_COLUMNS,
    FEATURES,
    KEY_NAME,
    PERCENT_COLUMNS,
    CensusValidationError,
    bounded_read,
    clean,
    cleaning,
    load_census,
    parsing,
)
from include.segmentation.synthetic import synthetic_census


def _csv(frame: pd.DataFrame, encoding: str = "utf-8") -> bytes:
    return frame.to_csv(index=False).encode(encoding)


@pytest.fixture
def small() -> pd.DataFrame:
    return synthetic_census(n_counties=20, seed=3, missing_rows=0)


def test_contract_has_37_columns_and_34_features() -> None:
    assert len(COLUMNS) == 37
    assert len(FEATURES) == 34
    assert set(COUNT_COLUMNS) | set(PERCENT_COLUMNS) == set(FEATURES)
    assert not set(COUNT_COLUMNS) & set(PERCENT_COLUMNS)


def test_real_census_loads_3220_rows_and_cleans_to_3218_by_34(census_csv) -> None:
    frame = load_census(census_csv)
    cleaned = clean(frame)
    assert len(frame) == 3220
    assert cleaned.features.shape == (3218, 34)
    assert sorted(cleaned.dropped) == ["Hawaii-Kalawao", "Texas-Loving"]
    assert cleaned.features.index.name == KEY_NAME
    assert cleaned.features.index[0] == "Alabama-Autauga"
    assert list(cleaned.features.columns) == list(FEATURES)


def test_cleaning_keeps_each_kept_county_s_fips_code_for_the_map(census_csv) -> None:
    cleaned = clean(load_census(census_csv))
    assert cleaned.counties.index.equals(cleaned.features.index)
    assert list(cleaned.counties.columns) == ["CensusId", "State", "County"]
    assert cleaned.counties.loc["Alabama-Autauga"].tolist() == ["1001", "Alabama", "Autauga"]


def test_loads_from_path_bytes_and_binary_file_alike(tmp_path, small) -> None:
    path = tmp_path / "census.csv"
    path.write_bytes(_csv(small))
    from_path = load_census(path)
    from_str = load_census(str(path))
    from_bytes = load_census(_csv(small))
    from_file = load_census(io.BytesIO(_csv(small)))
    for other in (from_str, from_bytes, from_file):
        pd.testing.assert_frame_equal(from_path, other)


def test_gzip_is_detected_by_magic_bytes(small) -> None:
    loaded = load_census(gzip.compress(_csv(small)))
    assert len(loaded) == 20


def test_utf8_bom_is_accepted(small) -> None:
    loaded = load_census(b"\xef\xbb\xbf" + _csv(small))
    assert list(loaded.columns) == list(COLUMNS)


def test_latin1_falls_back_when_not_utf8(small) -> None:
    small.loc[0, "County"] = "Doña Ana"
    loaded = load_census(_csv(small, encoding="latin-1"))
    assert loaded.loc[1, "County"] == "Doña Ana"


def test_column_order_is_free_and_extra_columns_are_ignored_with_a_warning(small, caplog) -> None:
    shuffled = small[list(reversed(COLUMNS))].assign(Notes="x")
    with caplog.at_level(logging.WARNING):
        loaded = load_census(_csv(shuffled))
    assert list(loaded.columns) == list(COLUMNS)
    assert "Notes" in caplog.text


def test_every_missing_column_is_named(small) -> None:
    with pytest.raises(CensusValidationError) as error:
        load_census(_csv(small.drop(columns=["Income", "Walk"])), name="in.csv")
    assert "in.csv" in str(error.value)
    assert "Income" in str(error.value) and "Walk" in str(error.value)


def test_empty_file_is_refused() -> None:
    with pytest.raises(CensusValidationError, match="empty"):
        load_census(b"")


def test_header_without_rows_is_refused() -> None:
    with pytest.raises(CensusValidationError, match="no rows"):
        load_census((",".join(COLUMNS) + "\n").encode())


def test_non_numeric_value_is_reported_with_column_row_and_value(small) -> None:
    small["Poverty"] = small["Poverty"].astype(object)
    small.loc[4, "Poverty"] = "twelve"
    with pytest.raises(CensusValidationError) as error:
        load_census(_csv(small))
    message = str(error.value)
    assert "'Poverty'" in message and "row" in message and "5 ('twelve')" in message


def test_non_finite_value_is_refused(small) -> None:
    small["Income"] = small["Income"].astype(object)
    small.loc[0, "Income"] = "inf"
    with pytest.raises(CensusValidationError, match=r"'Income'.*1 \('inf'\)"):
        load_census(_csv(small))


def test_only_first_offending_rows_are_quoted_with_a_count_of_the_rest(small) -> None:
    small["Walk"] = "x"
    with pytest.raises(CensusValidationError, match="and 15 more"):
        load_census(_csv(small))


def test_duplicate_state_county_keys_are_named(small) -> None:
    small.loc[7, ["State", "County"]] = small.loc[2, ["State", "County"]].to_numpy()
    key = f"{small.loc[2, 'State']}-{small.loc[2, 'County']}"
    with pytest.raises(CensusValidationError) as error:
        load_census(_csv(small))
    assert f"'{key}' (rows 3, 8)" in str(error.value)


@pytest.mark.parametrize("column", ["TotalPop", "Employed", "Income"])
def test_negative_counts_are_refused(small, column) -> None:
    small.loc[1, column] = -5
    with pytest.raises(CensusValidationError, match=rf"'{column}': negative counts at rows 2"):
        load_census(_csv(small))


@pytest.mark.parametrize("value", [-0.1, 100.5])
def test_percentages_outside_0_to_100_are_refused(small, value) -> None:
    small.loc[3, "Transit"] = value
    with pytest.raises(CensusValidationError, match=r"'Transit': percentages outside 0–100 at rows 4"):
        load_census(_csv(small))


def test_every_problem_is_reported_at_once(small) -> None:
    small.loc[0, "TotalPop"] = -1
    small.loc[0, "White"] = 101
    with pytest.raises(CensusValidationError) as error:
        load_census(_csv(small))
    assert len(error.value.problems) == 2


def test_empty_cells_load_as_missing_and_clean_drops_those_rows_by_key(small) -> None:
    small.loc[5, "ChildPoverty"] = np.nan
    frame = load_census(_csv(small))
    cleaned = clean(frame)
    assert cleaned.dropped == [f"{small.loc[5, 'State']}-{small.loc[5, 'County']}"]
    assert cleaned.features.shape == (19, 34)
    assert not cleaned.features.isna().any().any()


@pytest.mark.parametrize("max_runs", [1, 4096])  # rows gathered column by column, or copied a run at a time
def test_clean_keeps_the_complete_rows_in_order_with_their_counties(monkeypatch, max_runs) -> None:
    monkeypatch.setattr(cleaning, "_MAX_RUNS", max_runs)
    frame = load_census(_csv(synthetic_census(n_counties=60, seed=4, missing_rows=0)))
    frame.loc[[1, 2, 7, 30, 60], "Walk"] = np.nan  # the first row, a run of two, one inside, the last
    cleaned = clean(frame)
    kept = frame.drop(index=[1, 2, 7, 30, 60])
    assert cleaned.features.to_numpy().tolist() == kept[list(FEATURES)].to_numpy().tolist()
    assert cleaned.counties.to_numpy().tolist() == kept[["CensusId", "State", "County"]].to_numpy().tolist()
    assert (
        list(cleaned.features.index) == list(cleaned.counties.index) == (kept["State"] + "-" + kept["County"]).tolist()
    )


def test_clean_names_a_row_without_a_key_by_its_number(small) -> None:
    small.loc[2, "County"] = ""
    cleaned = clean(load_census(_csv(small)))
    assert cleaned.dropped == ["row 3"]


def test_clean_refuses_when_no_complete_row_is_left(small) -> None:
    small["Income"] = np.nan
    with pytest.raises(CensusValidationError, match="no complete row"):
        clean(load_census(_csv(small)))


def test_census_above_the_size_limit_is_refused_with_its_size_and_the_limit() -> None:
    census.check_census_size(census.MAX_CENSUS_BYTES, "s3://popseg/census.csv")
    with pytest.raises(CensusValidationError, match=r"s3://popseg/census.csv: the file is 1,073,741,825 bytes"):
        census.check_census_size(census.MAX_CENSUS_BYTES + 1, "s3://popseg/census.csv")


def test_stored_file_above_the_limit_is_refused_before_reading(tmp_path, monkeypatch, small) -> None:
    path = tmp_path / "census.csv"
    path.write_bytes(_csv(small))
    monkeypatch.setattr(bounded_read, "MAX_CENSUS_BYTES", 100)
    with pytest.raises(CensusValidationError, match=rf"the file is {path.stat().st_size:,} bytes, above .* 100 bytes"):
        load_census(path)


def test_binary_file_object_above_the_limit_is_refused(monkeypatch, small) -> None:
    monkeypatch.setattr(bounded_read, "MAX_CENSUS_BYTES", 100)
    with pytest.raises(CensusValidationError, match=r"the file is 101 bytes"):
        load_census(io.BytesIO(_csv(small)))  # read up to one byte past the limit, no further


def test_gzip_within_the_limit_loads_and_past_it_is_refused(monkeypatch, small) -> None:
    data = _csv(small)
    monkeypatch.setattr(bounded_read, "MAX_CENSUS_BYTES", len(data))
    assert len(load_census(gzip.compress(data))) == 20
    with pytest.raises(CensusValidationError, match="the gzip data expands past"):
        load_census(gzip.compress(data + b"\n"))


def test_corrupt_gzip_is_refused() -> None:
    with pytest.raises(CensusValidationError, match="corrupt gzip data"):
        load_census(gzip.compress(b"CensusId,State\n" * 100)[:-20])


def test_header_of_too_many_columns_is_refused_before_parsing(small) -> None:
    header = ",".join([*COLUMNS, *(f"x{i}" for i in range(census.MAX_COLUMNS - len(COLUMNS) + 1))])
    with pytest.raises(CensusValidationError, match=r"the header \(line 1\) has 257 columns, above the limit of 256"):
        load_census(header.encode() + b"\n1\n")


def test_line_length_limit_is_exact_and_names_the_line(small) -> None:
    lines = _csv(small.assign(Notes="")).splitlines()
    padded = lines[3] + b"x" * (census.MAX_LINE_BYTES - len(lines[3]))
    assert len(load_census(b"\n".join([*lines[:3], padded, *lines[4:]]))) == 20
    with pytest.raises(CensusValidationError, match=r"line 4 is 65,537 bytes long, above the limit of 65,536"):
        load_census(b"\n".join([*lines[:3], padded + b"x", *lines[4:]]))


def test_long_line_is_found_across_scan_windows(monkeypatch, small) -> None:
    monkeypatch.setattr(bounded_read, "_SCAN", 64)  # many windows; lines straddle their edges
    monkeypatch.setattr(bounded_read, "MAX_LINE_BYTES", 500)
    lines = _csv(small).splitlines()
    assert len(load_census(b"\n".join(lines))) == 20
    lines[17] += b"9" * 500
    with pytest.raises(CensusValidationError, match=r"line 18 is \d+ bytes long"):
        load_census(b"\n".join(lines))


def test_nul_byte_is_refused_as_binary_naming_its_line(small) -> None:
    data = _csv(small).replace(b"\n", b"\n\x00", 3).replace(b"\n\x00", b"\n", 2)
    with pytest.raises(CensusValidationError, match=r"binary data, not CSV text: a NUL byte on line 4"):
        load_census(data)


def test_unparsable_csv_is_a_validation_error_naming_the_problem(small) -> None:
    lines = _csv(small).splitlines()
    lines[5] = lines[5].rsplit(b",", 1)[0] + b', "unclosed'  # the right field count, a quote left open
    with pytest.raises(CensusValidationError, match=r"not a readable CSV: .*EOF inside string"):
        load_census(b"\n".join(lines))


@pytest.mark.parametrize("column", ["State", "County"])
def test_names_longer_than_the_limit_are_refused_with_their_rows(small, column) -> None:
    small.loc[[2, 6], column] = "N" * (census.MAX_NAME_CHARS + 1)
    small.loc[4, column] = "N" * census.MAX_NAME_CHARS
    with pytest.raises(CensusValidationError) as error:
        load_census(_csv(small))
    assert f"column '{column}': names longer than 256 characters (MAX_NAME_CHARS) at rows 3 (257 characters), 7" in str(
        error.value
    )


def test_long_offending_values_are_quoted_shortened(small) -> None:
    small["Walk"] = small["Walk"].astype(object)
    small.loc[0, "Walk"] = "z" * 5000
    with pytest.raises(CensusValidationError) as error:
        load_census(_csv(small))
    assert f"1 ('{'z' * 40}…')" in str(error.value)
    assert len(str(error.value)) < 300


def test_extra_columns_warning_lists_ten_and_counts_the_rest(small, caplog) -> None:
    wide = small.assign(**{f"extra{i:02}": 0 for i in range(25)})
    with caplog.at_level(logging.WARNING):
        load_census(_csv(wide))
    assert "ignoring 25 extra columns: extra00, extra01" in caplog.text
    assert "extra09 … and 15 more" in caplog.text
    assert "extra10" not in caplog.text


@pytest.mark.parametrize(("chunk", "scan"), [(7, 1 << 20), (1000, 1 << 20), (1 << 20, 1 << 20), (1000, 7), (7, 3)])
def test_a_stream_is_refused_at_its_first_overlong_line_whatever_the_chunk_size(monkeypatch, chunk, scan) -> None:
    monkeypatch.setattr(bounded_read, "_CHUNK", chunk)
    monkeypatch.setattr(bounded_read, "_SCAN", scan)  # read chunks scanned in smaller blocks; lines straddle both
    monkeypatch.setattr(bounded_read, "MAX_LINE_BYTES", 50)
    fine = b"h,e,a,d\n" + b"x" * 50 + b"\n" + b"y" * 50
    assert census.read_census_bytes(io.BytesIO(fine), "s3://b/census.csv") == fine
    with pytest.raises(CensusValidationError, match=r"s3://b/census.csv: line 3 is longer than the limit of 50"):
        census.read_census_bytes(io.BytesIO(b"h\n" + b"x" * 50 + b"\n" + b"z" * 51 + b"\nmore"), "s3://b/census.csv")


@pytest.mark.parametrize("announced", [0, 1, 20, 33, 34, 35, 100])  # the stream has 34 bytes
def test_a_stream_longer_or_shorter_than_announced_is_read_whole(monkeypatch, announced) -> None:
    monkeypatch.setattr(bounded_read, "_CHUNK", 8)
    data = b"h,e,a,d\n" + b"1,2,3,4\n" * 3 + b"5,6"
    assert census.read_census_bytes(io.BytesIO(data), "s3://b/census.csv", size=announced) == data


def test_a_stream_is_refused_past_the_limit_whatever_size_it_announced(monkeypatch) -> None:
    monkeypatch.setattr(bounded_read, "_CHUNK", 8)
    monkeypatch.setattr(bounded_read, "MAX_CENSUS_BYTES", 30)
    with pytest.raises(CensusValidationError, match=r"the file is 31 bytes, above the limit of 30 bytes"):
        census.read_census_bytes(io.BytesIO(b"h,e,a,d\n" + b"1,2,3,4\n" * 4), "s3://b/census.csv", size=20)


def test_an_announced_size_does_not_change_which_overlong_line_is_refused(monkeypatch) -> None:
    monkeypatch.setattr(bounded_read, "_CHUNK", 1000)
    monkeypatch.setattr(bounded_read, "MAX_LINE_BYTES", 50)
    data = b"h\n" + b"x" * 50 + b"\n" + b"z" * 51 + b"\nmore"
    for announced in (None, 10, len(data), 10_000):
        with pytest.raises(CensusValidationError, match=r"line 3 is longer than the limit of 50"):
            census.read_census_bytes(io.BytesIO(data), "s3://b/census.csv", size=announced)


class _ReadOnlyStream:
    """A stream with read() alone, as some file-like wrappers offer."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._data.read(size)


def test_a_stream_without_readinto_is_read_whole_and_bounded(monkeypatch) -> None:
    monkeypatch.setattr(bounded_read, "_CHUNK", 5)
    monkeypatch.setattr(bounded_read, "MAX_CENSUS_BYTES", 30)
    fine = b"h,e,a,d\n" + b"1,2,3,4\n" * 2 + b"5,6"
    assert census.read_census_bytes(_ReadOnlyStream(fine), "s3://b/census.csv") == fine
    with pytest.raises(CensusValidationError, match=r"the file is 31 bytes, above the limit of 30 bytes"):
        census.read_census_bytes(_ReadOnlyStream(fine * 2), "s3://b/census.csv")


def test_prepare_cleans_scales_and_counts() -> None:
    prepared = census.prepare(synthetic_census(300).to_csv(index=False).encode(), "s3://b/in.csv", k=8)
    assert prepared.rows_in == 300 and len(prepared.features) == 298 and len(prepared.dropped) == 2
    assert prepared.scaled.dtype == np.float32 and prepared.scaled.min() == 0 and prepared.scaled.max() == 1


def test_prepare_refuses_more_segments_than_rows() -> None:
    with pytest.raises(CensusValidationError, match=r"s3://b/in.csv: k=30 segments asked for, but only 20"):
        census.prepare(synthetic_census(20, missing_rows=0).to_csv(index=False).encode(), "s3://b/in.csv", k=30)


def test_a_bad_number_deep_in_a_large_file_is_named_with_its_row_and_column() -> None:
    from include.segmentation.synthetic import scaled_census

    frame = scaled_census(30_000, missing_rows=0)  # about 6 MB: past the typed reader's first batch
    frame["Walk"] = frame["Walk"].astype(object)
    frame.loc[24_999, "Walk"] = "1.2.3"
    with pytest.raises(CensusValidationError) as error:
        load_census(_csv(frame), name="s3://b/big.csv")
    assert error.value.problems == ["column 'Walk': non-numeric or non-finite values at rows 25000 ('1.2.3')"]
    assert str(error.value).startswith("s3://b/big.csv: ")


def test_the_typed_read_and_the_text_read_give_the_same_frame(small) -> None:
    small.loc[2, "County"] = "  Doña Ana "
    small["Income"] = small["Income"].astype(object)
    small.loc[[4, 5, 6], "Income"] = [" NA", "null ", ""]
    raw = _csv(small)
    typed = parsing._read_typed(raw, "in.csv")
    assert typed is not None  # the fast path took it
    pd.testing.assert_frame_equal(typed, parsing._read_text(raw, "in.csv", []))
    assert typed.loc[3, "County"] == "Doña Ana" and typed.loc[[5, 6, 7], "Income"].isna().all()


def test_blank_lines_are_skipped_and_later_rows_keep_their_numbers(small) -> None:
    def with_blank_line(frame: pd.DataFrame) -> bytes:
        lines = _csv(frame).split(b"\n")
        return b"\n".join([*lines[:4], b"", *lines[4:]])  # between data rows 3 and 4

    assert len(load_census(with_blank_line(small))) == 20
    small["Poverty"] = small["Poverty"].astype(object)
    small.loc[6, "Poverty"] = "oops"
    with pytest.raises(
        CensusValidationError, match=r"'Poverty': non-numeric or non-finite values at rows 7 \('oops'\)"
    ):
        load_census(with_blank_line(small))


def test_a_census_padded_with_blank_lines_loads_in_memory_bounded_by_its_rows(small, tmp_path) -> None:
    from devtools.hostile_inputs import measure

    path = tmp_path / "padded.csv"
    path.write_bytes(_csv(small) + b"\n" * 100_000_000)  # 100 M lines: one float row each would be 27 GB
    loaded = measure("census", path)
    assert loaded.error == "accepted", loaded.message
    # Sized by its lines, the float block alone would be 27 GB; the newline scan's indices dominate instead.
    assert loaded.peak_rss_mib < 1024


def _rows(n: int, county: str = "C") -> bytes:
    """The header and `n` rows of the right width, features empty."""
    return (",".join(COLUMNS) + "\n").encode() + b"".join(
        f"{i},S,{county}{i}".encode() + b"," * 34 + b"\n" for i in range(n)
    )


@pytest.mark.parametrize("form", ["bytes", "stream", "gzip"])
def test_row_limit_is_exact_and_counts_no_blank_line(monkeypatch, form) -> None:
    monkeypatch.setattr(bounded_read, "MAX_CENSUS_ROWS", 5)
    monkeypatch.setattr(bounded_read, "_SCAN", 16)  # rows straddle the scan windows
    monkeypatch.setattr(bounded_read, "_INFLATE", 7)  # and the chunks gzip is inflated in

    def read(data: bytes) -> object:
        if form == "stream":
            return census.read_census_bytes(io.BytesIO(data), "s3://b/census.csv")
        return census.load_census(gzip.compress(data) if form == "gzip" else data, name="s3://b/census.csv")

    read(_rows(5).replace(b"\n", b"\n\n\r\n", 3))  # 5 rows, blank lines (LF and CRLF) between them
    with pytest.raises(CensusValidationError, match=r"more than 5 rows, the limit \(MAX_CENSUS_ROWS\)"):
        read(_rows(6))


def test_row_limit_counts_a_last_row_without_a_newline(monkeypatch) -> None:
    monkeypatch.setattr(bounded_read, "MAX_CENSUS_ROWS", 5)
    with pytest.raises(CensusValidationError, match="MAX_CENSUS_ROWS"):
        load_census(_rows(6)[:-1])


@pytest.mark.parametrize(("line", "fields"), [(b"a", 1), (b"1,S,C" + b",1" * 40, 43)])
def test_a_row_of_the_wrong_field_count_is_refused_naming_its_line_and_counts(small, line, fields) -> None:
    lines = _csv(small).splitlines()
    lines.insert(7, line)
    with pytest.raises(
        CensusValidationError, match=rf"in.csv: line 8 has {fields} fields, expected 37 as in the header"
    ):
        load_census(b"\n".join(lines), name="in.csv")


def test_a_short_row_is_refused_on_the_text_path_too(small) -> None:
    small["County"] = small["County"].astype(object)
    small.loc[0, "County"] = "Doña, Ana"
    lines = _csv(small).replace(b',"', b', "', 1).splitlines()  # `, "`: pandas unquotes it, pyarrow would not
    assert load_census(b"\n".join(lines)).loc[1, "County"] == "Doña, Ana"
    lines.insert(4, b"1001,Alabama")
    with pytest.raises(CensusValidationError, match=r"line 5 has 2 fields, expected 37 as in the header: '1001,Ala"):
        load_census(b"\n".join(lines))


def test_a_feature_block_above_its_limit_is_refused_before_it_is_allocated(monkeypatch) -> None:
    monkeypatch.setattr(parsing, "MAX_FEATURE_BLOCK_BYTES", 4 * 34 * 8)
    load_census(_rows(4))
    with pytest.raises(CensusValidationError, match=r"5 rows need a feature block of 1,360 bytes, above .*BLOCK"):
        load_census(_rows(5))


@pytest.mark.parametrize("column", ["State", "County"])
@pytest.mark.parametrize(
    "name", ["Doña\nAna", "Doña\r\nAna", "Doña\tAna", "Doña\x1bAna", "Doña\x85Ana", "Doña\u2028Ana"]
)
def test_control_characters_in_names_are_refused_with_row_and_column(small, column, name) -> None:
    small[column] = small[column].astype(object)
    small.loc[2, column] = name  # to_csv quotes a name with a newline: a quoted newline
    with pytest.raises(CensusValidationError) as error:
        load_census(_csv(small))
    assert error.value.problems == [
        f"column '{column}': control characters (Unicode Cc, U+2028, U+2029) at rows 3 ({name!r})"
    ]
