"""A census the streaming preprocess cannot vouch for is refused with the very message the whole-file path gives
(file, row, column), wherever in the file the problem lies; streaming wrote nothing for it. Chunks of 256 KiB, so
the bundled sample (668 KB) streams in three and the problems below lie in its last."""

from __future__ import annotations

import gzip
import io

import numpy as np
import pandas as pd
import pytest
from airflow.sdk.exceptions import AirflowFailException

from include.airflow_popseg import steps
from include.segmentation.census import CensusValidationError, NotStreamable, bounded_read, streaming
from include.segmentation.synthetic import synthetic_census
from tests.support.preprocess_runs import BUCKET, INPUT_KEY, run_on, s3_bucket

LATE = 3000  # frame position of data row 3,001, in the last chunk


def _csv(frame) -> bytes:
    return frame.to_csv(index=False).encode()


def _changed(column: str, value) -> bytes:
    frame = synthetic_census().astype(object)
    frame.loc[LATE, column] = value
    return _csv(frame)


def _line_changed(change) -> bytes:
    lines = _csv(synthetic_census()).split(b"\n")
    lines[LATE + 1] = change(lines[LATE + 1])
    return b"\n".join(lines)


def _repeated_key() -> bytes:
    frame = synthetic_census()
    frame.loc[LATE, ["State", "County"]] = frame.loc[10, ["State", "County"]].to_numpy()
    return _csv(frame)


def _no_complete_row() -> bytes:
    frame = synthetic_census().astype(object)
    frame["Income"] = ""
    return _csv(frame)


# name -> (census bytes, params, a fragment the refusal must hold)
REFUSED = {
    "a bad number": (
        lambda: _changed("Income", "4x3020"),
        {},
        "column 'Income': non-numeric or non-finite values at rows 3001 ('4x3020')",
    ),
    "a State-County key repeated across chunks": (_repeated_key, {}, "duplicate State-County keys: "),
    "a ragged row": (lambda: _line_changed(lambda line: line + b",1"), {}, "line 3,002 has 38 fields, expected 37"),
    "a negative count": (
        lambda: _changed("TotalPop", -5),
        {},
        "column 'TotalPop': negative counts at rows 3001 (-5.0)",
    ),
    "a control character in a name": (
        lambda: _changed("County", "Wayne\t3001"),
        {},
        "column 'County': control characters",
    ),
    "a NUL byte": (
        lambda: _line_changed(lambda line: line.replace(b"Wayne", b"Wa\0ne")),
        {},
        "a NUL byte on line 3,002",
    ),
    "a line past MAX_LINE_BYTES": (
        lambda: _line_changed(lambda line: line.replace(b"Wayne", b"W" * 70_000)),
        {},
        "line 3,002",
    ),
    "a missing column": (lambda: _csv(synthetic_census().drop(columns="Walk")), {}, "missing columns: Walk"),
    "a header alone": (lambda: _csv(synthetic_census().head(0)), {}, "the header has no rows below it"),
    "no complete row": (_no_complete_row, {}, "no complete row is left after dropping 3220 incomplete rows"),
    "more segments than complete rows": (
        lambda: _csv(synthetic_census().head(6)),
        {"k": 8},
        "k=8 segments asked for, but only",
    ),
}


@pytest.fixture(autouse=True)
def _small_chunks(monkeypatch) -> None:
    monkeypatch.setattr(streaming, "CHUNK_BYTES", 256 << 10)


def _refusal(task, census: bytes, params: dict, raised: type[Exception]) -> str:
    with s3_bucket() as client:
        run = run_on(client, census, {"k": 5, **params})
        with pytest.raises(raised) as refused:
            task(run)
    return str(refused.value)


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_census_is_refused_with_the_whole_file_message(case) -> None:
    make, params, fragment = REFUSED[case]
    census = make()
    message = _refusal(steps.preprocess, census, params, AirflowFailException)
    assert fragment in message
    assert message == _refusal(steps.preprocess_whole, census, params, CensusValidationError)


@pytest.mark.parametrize("case", list(REFUSED))
def test_the_streaming_path_leaves_a_refused_census_to_the_whole_file_and_writes_nothing(case) -> None:
    make, params, _ = REFUSED[case]
    with s3_bucket() as client:
        run = run_on(client, make(), {"k": 5, **params})
        with pytest.raises(NotStreamable):
            steps.preprocess_streaming(run)
        assert run.store.list_keys(run.layout.work_prefix) == []


def test_utf8_and_latin1_names_in_one_file_are_read_whole_as_latin1_as_before() -> None:
    from tests.support.preprocess_runs import digests

    census = _line_changed(lambda line: line.replace(b"Wayne", b"Wa\xf1e"))  # Latin-1 ñ late, UTF-8 "Río" early
    with s3_bucket() as client:
        run = run_on(client, census, {"k": 5})
        with pytest.raises(NotStreamable, match="UTF-8 and Latin-1"):
            steps.preprocess_streaming(run)
        streamed = digests(run, steps.preprocess(run))
        assert streamed == digests(run, steps.preprocess_whole(run))


# Above the whole-file bound there is no whole read to name a problem: the streaming path's refusal does, in the
# same words. The bound is made smaller than every census below (a header alone is 380 bytes) rather than the
# files larger than 1 GiB.
WHOLE_BOUND = 100


@pytest.fixture
def above_whole_bound(monkeypatch) -> None:
    """Every census above the whole-file bound, and no whole read allowed."""
    monkeypatch.setattr(bounded_read, "MAX_CENSUS_BYTES", WHOLE_BOUND)

    def read_whole(*args, **kwargs):
        raise AssertionError("a census above MAX_CENSUS_BYTES was read whole")

    monkeypatch.setattr(steps, "preprocess_whole", read_whole)


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_census_above_the_whole_file_bound_is_refused_by_the_stream_naming_file_row_and_column(
    case, above_whole_bound
) -> None:
    make, params, fragment = REFUSED[case]
    message = _refusal(steps.preprocess, make(), params, AirflowFailException)
    assert message.startswith(f"s3://{BUCKET}/{INPUT_KEY}: ")
    assert fragment in message


def test_a_census_above_the_whole_file_bound_that_passes_is_streamed(above_whole_bound) -> None:
    with s3_bucket() as client:
        run = run_on(client, _csv(synthetic_census()), {"k": 5})
        prepared = steps.preprocess(run)
    assert (prepared["rows_in"], prepared["rows"]) == (3220, 3218)


def test_utf8_and_latin1_above_the_whole_file_bound_are_refused_with_both_lines(above_whole_bound) -> None:
    census = _line_changed(lambda line: line.replace(b"Wayne", b"Wa\xf1e"))
    message = _refusal(steps.preprocess, census, {}, AirflowFailException)
    assert "UTF-8 and Latin-1 text in one file (UTF-8 on line " in message
    assert "Latin-1 on line 3,002)" in message
    assert f"above the {WHOLE_BOUND:,} bytes read whole (MAX_CENSUS_BYTES)" in message


def test_a_gzip_census_that_inflates_past_the_whole_file_bound_is_refused_for_its_row_not_its_size(
    monkeypatch,
) -> None:
    """Stored within the whole-file bound, so read whole after the stream's refusal, which refuses it for its size:
    the refusal given is the stream's, of the bad cell."""
    census = gzip.compress(_changed("TotalPop", -5))
    monkeypatch.setattr(bounded_read, "MAX_CENSUS_BYTES", len(census) + 1)
    monkeypatch.setattr(streaming, "CHUNK_BYTES", 64 << 10)  # the bad row is refused before the bound is passed
    message = _refusal(steps.preprocess, census, {}, AirflowFailException)
    assert "column 'TotalPop': negative counts at rows 3001 (-5.0)" in message
    assert "MAX_CENSUS_BYTES" not in message


def test_a_census_above_the_streamed_bound_is_refused_before_it_is_read(monkeypatch) -> None:
    monkeypatch.setattr(bounded_read, "MAX_STREAMED_CENSUS_BYTES", WHOLE_BOUND)
    census = _csv(synthetic_census())
    message = _refusal(steps.preprocess, census, {}, AirflowFailException)
    assert f"the file is {len(census):,} bytes, above the limit of {WHOLE_BOUND:,} bytes" in message
    assert "(MAX_STREAMED_CENSUS_BYTES)" in message


def test_a_key_hash_repeated_by_a_collision_is_no_duplicate() -> None:
    """Pass 1 finds hashes that repeat; the keys behind them, read again, are told apart: here the hash of a key
    that occurs once stands for a collision."""
    census = _csv(synthetic_census())
    key = f"{synthetic_census().loc[LATE, 'State']}-{synthetic_census().loc[LATE, 'County']}"
    repeated = pd.util.hash_array(np.array([key], dtype=object))
    assert streaming._duplicate_problems(lambda: io.BytesIO(census), "census.csv", repeated) == []


def test_a_key_hash_repeated_by_a_duplicate_names_its_rows() -> None:
    census = _repeated_key()
    frame = synthetic_census()
    key = f"{frame.loc[10, 'State']}-{frame.loc[10, 'County']}"
    repeated = pd.util.hash_array(np.array([key], dtype=object))
    problems = streaming._duplicate_problems(lambda: io.BytesIO(census), "census.csv", repeated)
    assert problems == [f"duplicate State-County keys: '{key}' (rows 11, 3001)"]


def test_a_chunk_refusal_names_the_file_line_and_leaves_quoted_text_alone() -> None:
    chunk = streaming._Chunk(header=b"h\n", lines=b"", first_line=5_001, last_line=6_000)
    problem = "line 3 has 38 fields, expected 37 as in the header: 'Ohio,line 3,1'"
    assert chunk.in_file(problem) == "line 5,002 has 38 fields, expected 37 as in the header: 'Ohio,line 3,1'"
