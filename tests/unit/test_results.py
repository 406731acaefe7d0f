"""The run's results as users read them, without Airflow or AWS."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from include.segmentation import results


def test_segments_frame_has_the_published_columns() -> None:
    components = results.components_frame(pd.Index(["A-a", "B-b"]), np.array([[1.0, 2.0], [3.0, 4.0]]))
    assignment = {"closest_cluster": np.array([[1.0], [0.0]]), "distance_to_cluster": np.array([[0.5], [0.25]])}
    segments = results.segments_frame(components, assignment)
    assert list(segments.columns) == ["State-County", "segment", "distance", "c_1", "c_2"]
    assert segments["segment"].tolist() == [1, 0]


def test_csv_outputs_neutralise_cells_a_spreadsheet_would_run_as_formulas() -> None:
    frame = pd.DataFrame(
        {
            "State-County": ['=HYPERLINK("http://x")', "Texas-Ada", "+1", "-2+3", "@SUM(A1)", "\tcmd", None],
            "segment": [0, -1, 2, 3, 4, 5, 6],
            "distance": [-0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        }
    )
    written = pd.read_csv(io.BytesIO(results.csv_bytes(frame)), keep_default_na=False)
    assert written["State-County"].tolist() == [
        '\'=HYPERLINK("http://x")',
        "Texas-Ada",
        "'+1",
        "'-2+3",
        "'@SUM(A1)",
        "'\tcmd",
        "",
    ]
    # Numbers, negative ones included, stay numbers.
    assert written["segment"].tolist() == [0, -1, 2, 3, 4, 5, 6] and written["distance"].iloc[0] == -0.5
