"""The US county map: TopoJSON decoding, every real county drawn or listed, the PNG and the inline SVG."""

from __future__ import annotations

import io
import itertools
import re
import xml.etree.ElementTree as ET

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from include.segmentation import census, us_map
from include.segmentation.synthetic import synthetic_census
from tests.support.paths import shared_path

SVG = "{http://www.w3.org/2000/svg}"
# Counties of the real census that the map cannot draw, and why.
NO_AREA = {"51610": "Falls Church", "51678": "Lexington", "51685": "Manassas Park"}  # a point or a line in us-atlas
PUERTO_RICO = 78  # municipios in the ACS file; us-atlas has no Puerto Rico
LABELS = {0: "high Transit · high Income · low Drive", 1: "low Transit", 2: "high Native"}


@pytest.fixture(scope="module")
def atlas() -> us_map.Atlas:
    return us_map.load_atlas()


@pytest.fixture(scope="module")
def real_counties() -> pd.DataFrame:
    return census.clean(census.load_census(shared_path("data/census/acs2015_county_data.csv"))).counties


def _segments(counties: pd.DataFrame) -> pd.DataFrame:
    """A segment and a distance per county, as segments.csv has them."""
    n = len(counties)
    return pd.DataFrame({"State-County": counties.index, "segment": np.arange(n) % 3, "distance": np.linspace(0, 1, n)})


def test_quantized_delta_arcs_decode_with_reversed_arcs_and_shared_points() -> None:
    # Two unit squares side by side sharing the arc x=1; the right one walks the shared arc backwards (~0).
    topology = {
        "transform": {"scale": [0.5, 0.5], "translate": [10, 20]},
        "arcs": [[[2, 0], [0, 2]], [[2, 2], [-2, 0], [0, -2], [2, 0]], [[2, 0], [2, 0], [0, 2], [-2, 0]]],
        "objects": {
            "counties": {
                "geometries": [{"type": "Polygon", "arcs": [[0, 1]], "id": "01001", "properties": {"name": "A"}}]
            },
            "states": {
                "geometries": [{"type": "MultiPolygon", "arcs": [[[2, ~0]]], "id": "01", "properties": {"name": "S"}}]
            },
        },
    }
    atlas = us_map.decode(topology)
    (left,) = atlas.counties["01001"]
    np.testing.assert_allclose(left, [[11, 20], [11, 21], [10, 21], [10, 20], [11, 20]])
    (right,) = atlas.states["01"]
    np.testing.assert_allclose(right, [[11, 20], [12, 20], [12, 21], [11, 21], [11, 20]])
    assert atlas.county_names == {"01001": "A"} and atlas.state_names == {"01": "S"}


def test_the_bundled_atlas_has_every_county_and_state_inside_its_bounds(atlas) -> None:
    assert len(atlas.county_names) == 3142 and len(atlas.states) == 51
    assert all(len(fips) == 5 and fips.isdigit() for fips in atlas.county_names)
    # Three small Virginia independent cities are a point or a line at 1:10M: they have no shape.
    assert atlas.county_names.keys() - atlas.counties.keys() == set(NO_AREA)
    points = np.concatenate([ring for rings in atlas.states.values() for ring in rings])
    x0, y0, x1, y1 = atlas.bounds  # the Aleutians reach west of the 975 × 610 frame
    assert ((points >= [x0, y0]) & (points <= [x1, y1])).all()
    assert x0 < 0 < 900 < x1 <= 975 and 0 < y0 < 600 < y1 <= 610
    assert atlas.county_names["06037"] == "Los Angeles" and atlas.state_names["02"] == "Alaska"


def test_the_atlas_shared_by_the_process_refuses_a_caller_s_changes() -> None:
    """load_atlas returns one Atlas per process: a report that changed it would change the next one's map."""
    atlas = us_map.load_atlas()
    assert us_map.load_atlas() is atlas
    with pytest.raises(ValueError, match="read-only"):
        atlas.counties["01001"][0][0, 0] = 0.0
    with pytest.raises(ValueError, match="read-only"):
        atlas.state_mesh[0][0] += 1.0
    with pytest.raises(TypeError):
        atlas.county_names["01001"] = "Elsewhere"  # type: ignore[index]
    with pytest.raises(TypeError):
        del atlas.counties["01001"]  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        atlas.counties["01001"].append(atlas.counties["01001"][0])  # type: ignore[attr-defined]
    assert atlas.county_names["01001"] == "Autauga"


def test_census_ids_become_five_digit_fips_codes_and_others_none() -> None:
    codes = us_map.fips_code(pd.Series(["1001", "48301", " 2158 ", "", "abc", "123456"]))
    assert codes.tolist()[:3] == ["01001", "48301", "02158"]
    assert codes.iloc[3:].isna().all()


def test_every_county_of_the_real_census_is_drawn_except_the_listed_ones(atlas, real_counties) -> None:
    drawn = us_map.county_map(_segments(real_counties), real_counties, atlas)
    listed = [entry for entry in drawn.without_shape if not entry.startswith("Puerto Rico-")]
    assert listed == [f"Virginia-{name} city ({fips})" for fips, name in NO_AREA.items()]
    puerto_rico = [entry for entry in drawn.without_shape if entry.startswith("Puerto Rico-")]
    assert len(puerto_rico) == PUERTO_RICO and all("(72" in entry for entry in puerto_rico)
    assert drawn.without_fips == []
    # 3,142 atlas counties less the two incomplete rows and the three without an area
    assert len(drawn.drawn) == len(real_counties) - PUERTO_RICO - len(NO_AREA) == 3137
    assert drawn.drawn["fips"].is_unique


def test_a_county_without_a_fips_code_is_listed_not_dropped(atlas) -> None:
    counties = pd.DataFrame(
        {"CensusId": ["1001", "", "99999"], "State": ["Alabama", "Nowhere", "Elsewhere"], "County": ["A", "B", "C"]},
        index=pd.Index(["Alabama-A", "Nowhere-B", "Elsewhere-C"], name="State-County"),
    )
    drawn = us_map.county_map(_segments(counties), counties, atlas)
    assert drawn.drawn["fips"].tolist() == ["01001"]
    assert drawn.without_fips == ["Nowhere-B"]
    assert drawn.without_shape == ["Elsewhere-C (99999)"]


def test_rows_repeating_a_county_code_are_listed_and_the_county_drawn_once_with_its_first_row(atlas) -> None:
    """A file that is not one row per county (customers, households) must not stack shapes on a county."""
    counties = pd.DataFrame(
        {"CensusId": ["1001", "1001", "1003", "1001"], "State": ["Alabama"] * 4, "County": ["A", "B", "C", "D"]},
        index=pd.Index(["Alabama-A", "Alabama-B", "Alabama-C", "Alabama-D"], name="State-County"),
    )
    drawn = us_map.county_map(_segments(counties), counties, atlas)
    assert drawn.drawn["fips"].tolist() == ["01001", "01003"]
    assert drawn.drawn["County"].tolist() == ["A", "C"]
    assert drawn.repeated == ["Alabama-B (01001)", "Alabama-D (01001)"]
    assert drawn.without_fips == [] and drawn.without_shape == []


def test_the_synthetic_census_maps_like_the_real_one(atlas) -> None:
    counties = census.clean(census.load_census(synthetic_census().to_csv(index=False).encode())).counties
    drawn = us_map.county_map(_segments(counties), counties, atlas)
    assert len(drawn.without_shape) == PUERTO_RICO + len(NO_AREA) and drawn.without_fips == []
    assert len(drawn.drawn) == len(counties) - PUERTO_RICO - len(NO_AREA)


def test_the_png_decodes_and_shows_every_segment_colour(atlas, real_counties) -> None:
    drawn = us_map.county_map(_segments(real_counties), real_counties, atlas).drawn
    image = plt.imread(io.BytesIO(us_map.map_png(drawn, atlas, LABELS)), format="png")
    assert image.ndim == 3 and image.shape[1] >= 1000  # legible on a page
    pixels = {tuple(p) for p in np.round(image[..., :3] * 255).astype(int).reshape(-1, 3)[::7].tolist()}
    for colour in us_map.segment_colours(list(LABELS)).values():
        assert tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5)) in pixels


def test_the_svg_has_one_path_per_county_with_its_segment_and_a_hover_title(atlas, real_counties) -> None:
    segments = _segments(real_counties)
    drawn = us_map.county_map(segments, real_counties, atlas).drawn
    root = ET.fromstring(us_map.map_svg(drawn, atlas, LABELS))
    shapes = root.find(f"{SVG}g[@id='map-counties']").findall(f"{SVG}path")
    paths = [p for p in shapes if p.get("data-segment") is not None]
    assert len(paths) == len(drawn) == 3137
    # The two incomplete rows (Texas-Loving, Hawaii-Kalawao) are grey shapes, not holes in the map, in FIPS
    # order so that the same run gives the same report bytes in any process.
    grey = [(p.get("data-fips"), p.find(f"{SVG}title").text) for p in shapes if p.get("data-segment") is None]
    assert grey == [
        ("15005", "Kalawao, Hawaii — no segment in this run"),
        ("48301", "Loving, Texas — no segment in this run"),
    ]
    by_fips = {p.get("data-fips"): p for p in paths}
    expected = segments.set_index("State-County").join(real_counties)
    autauga = expected.loc["Alabama-Autauga"]
    path = by_fips["01001"]
    assert path.get("data-segment") == str(autauga["segment"])
    title = path.find(f"{SVG}title").text
    assert title == f"Autauga, Alabama — segment {autauga['segment']}: {LABELS[autauga['segment']]} — distance 0.0000"
    segments_drawn = {p.get("data-fips"): int(p.get("data-segment")) for p in paths}
    fips = us_map.fips_code(expected["CensusId"])
    assert all(segments_drawn[f] == s for f, s in zip(fips, expected["segment"], strict=True) if f in segments_drawn)
    assert root.find(f"{SVG}path[@id='map-states']") is not None


def test_every_svg_path_is_valid_path_data(atlas) -> None:
    # A browser stops drawing a path at its first syntax error: one bad ring blanks the rest of a county.
    number = r"-?\d+(\.\d)?"
    ring = re.compile(rf"M{number} {number}l{number} {number}( {number} {number})+z")
    for rings in [*atlas.counties.values(), *atlas.states.values()]:
        data = us_map._svg_path(rings)
        assert data and all(ring.fullmatch(part + "z") for part in data.split("z")[:-1]), data[:200]


@pytest.mark.parametrize("k", [2, 9, 12, 50])
def test_every_segment_gets_its_own_colour(k) -> None:
    colours = us_map.segment_colours(list(range(k)))
    assert list(colours) == list(range(k)) and len(set(colours.values())) == k
    if k <= 9:
        assert set(colours.values()) <= set(us_map.PALETTE)  # the colour-blind-safe scheme while it lasts


def test_a_segment_keeps_its_colour_whatever_other_segments_the_run_has() -> None:
    first, later = us_map.segment_colours([0, 1, 2, 3]), us_map.segment_colours([1, 3, 9, 31])
    assert later[1] == first[1] and later[3] == first[3]
    assert len(set(later.values())) == 4


def _edges(lines: list[np.ndarray]) -> list[tuple]:
    """Every segment of the lines as an undirected pair of points (rounded: the same point decodes the same)."""
    pairs = (np.round(pair, 6).tolist() for line in lines for pair in itertools.pairwise(line))
    return [tuple(sorted(map(tuple, pair))) for pair in pairs]


def test_a_border_two_states_share_is_one_line_of_the_state_mesh() -> None:
    # States 01 and 02 share arc 0 (x = 1): their rings walk it twice, the mesh once.
    square = {"type": "Polygon", "properties": {"name": "A"}}
    states = [{**square, "arcs": [[0, 1]], "id": "01"}, {**square, "arcs": [[2, ~0]], "id": "02"}]
    topology = {
        "arcs": [[[1, 0], [1, 1]], [[1, 1], [0, 1], [0, 0], [1, 0]], [[1, 0], [2, 0], [2, 1], [1, 1]]],
        "objects": {
            "counties": {"geometries": [{**square, "arcs": [[0, 1]], "id": "01001"}]},
            "states": {"geometries": states},
        },
    }
    edges = _edges(us_map.decode(topology).state_mesh)
    assert len(edges) == len(set(edges)) == 7  # 8 ring edges, the shared one once
    assert ((1.0, 0.0), (1.0, 1.0)) in edges


def test_the_bundled_state_mesh_draws_no_border_twice(atlas) -> None:
    edges, ring_edges = _edges(atlas.state_mesh), _edges([ring for rings in atlas.states.values() for ring in rings])
    # 10,349 ring edges, 7,519 distinct: the mesh draws each once, but for one 0.5 px edge that us-atlas
    # has on two different arcs near (849, 246).
    assert len(edges) - len(set(edges)) <= 1 and len(edges) < len(ring_edges)
    assert set(edges) == set(ring_edges)  # no border lost
