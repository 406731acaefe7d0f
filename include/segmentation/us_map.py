"""US county shapes from us-atlas TopoJSON, and a county choropleth as PNG (matplotlib) and inline SVG.

matplotlib is imported only to draw, so that the synthetic census can use the county codes cheaply.

TopoJSON stores each shared border once, as an *arc*: a line of quantized points, the first absolute and
the rest deltas from the previous point; `transform` maps them to coordinates (x · scale + translate).
A ring lists arc indices, `~i` meaning arc i reversed; consecutive arcs share their end point. A Polygon
is a list of rings (the first the exterior, then holes), a MultiPolygon a list of polygons. The bundled
file is pre-projected to Albers USA: coordinates are pixels in a 975 × 610 frame (the Aleutians reach
a little west of it), y pointing down, with Alaska and Hawaii as insets. Counties are keyed by 5-digit
FIPS code, states by 2-digit code.
"""

from __future__ import annotations

import functools
import html
import io
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from include.segmentation.census import KEY_NAME
from include.segmentation.printable import printable

if TYPE_CHECKING:
    from matplotlib.path import Path as MplPath

log = logging.getLogger(__name__)

ATLAS_FILE = Path(__file__).parent / "data" / "us-atlas" / "counties-albers-10m.json"
# Paul Tol's "muted" qualitative scheme: distinguishable with the common colour-vision deficiencies.
PALETTE = ("#332288", "#88ccee", "#44aa99", "#117733", "#999933", "#ddcc77", "#cc6677", "#882255", "#aa4499")
LISTED = 20  # counties named in a log line or on the page per kind of "not drawn"; the rest are counted
NO_DATA = "#dddddd"  # counties on the map that the run has no segment for
Rings = Sequence[np.ndarray]  # each ring (n_points, 2) float64 px, closed (last point = first)


@dataclass(frozen=True)
class Atlas:
    """County and state outlines in px, keyed by FIPS code, with their names.

    Read-only throughout (mappings, tuples, arrays that refuse writes): load_atlas shares one per process.
    """

    counties: Mapping[str, Rings]  # 5-digit FIPS -> rings, counties with an area only
    county_names: Mapping[str, str]  # every county of the file, with or without an area
    states: Mapping[str, Rings]  # 2-digit FIPS -> rings
    state_names: Mapping[str, str]
    state_mesh: Sequence[np.ndarray]  # every arc of a state outline once, (n_points, 2) px: a border two states
    # share is one line, not two (the states' own rings would draw it twice)
    bounds: tuple[float, float, float, float]  # x0, y0, x1, y1 px of every county point

    def __post_init__(self) -> None:
        for name in ("counties", "states"):
            shapes = {fips: tuple(map(_read_only, rings)) for fips, rings in getattr(self, name).items()}
            object.__setattr__(self, name, MappingProxyType(shapes))
        for name in ("county_names", "state_names"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))
        object.__setattr__(self, "state_mesh", tuple(map(_read_only, self.state_mesh)))


def _read_only(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def decode(topology: dict) -> Atlas:
    """Decode a us-atlas topology (objects `counties` and `states`) into rings per FIPS code."""
    arcs = _decode_arcs(topology["arcs"], topology.get("transform"))

    def ring(indices: list[int]) -> np.ndarray:
        parts = [arcs[i] if i >= 0 else arcs[~i][::-1] for i in indices]
        return np.concatenate([parts[0]] + [p[1:] for p in parts[1:]])  # drop each shared end point

    def rings(geometry: dict) -> Rings:
        polygons = geometry["arcs"] if geometry["type"] == "MultiPolygon" else [geometry["arcs"]]
        return [ring(r) for polygon in polygons for r in polygon]

    def shapes(name: str) -> tuple[dict[str, Rings], dict[str, str]]:
        geometries = [g for g in topology["objects"][name]["geometries"] if g.get("arcs")]
        return {g["id"]: rings(g) for g in geometries}, {g["id"]: g["properties"]["name"] for g in geometries}

    counties, county_names = shapes("counties")
    # At 1:10M a few small independent cities are a point or a line (no area): no shape to draw.
    counties = {fips: rings for fips, rings in counties.items() if max(abs(_area(r)) for r in rings) > 0}
    states, state_names = shapes("states")
    used = {i if i >= 0 else ~i for g in topology["objects"]["states"]["geometries"] for i in _arc_indices(g)}
    state_mesh = _chain([arcs[i] for i in sorted(used)])
    points = np.concatenate([ring for rings in counties.values() for ring in rings])
    x0, y0 = points.min(axis=0).tolist()
    x1, y1 = points.max(axis=0).tolist()
    return Atlas(counties, county_names, states, state_names, state_mesh, (x0, y0, x1, y1))


def _chain(lines: list[np.ndarray]) -> list[np.ndarray]:
    """Consecutive lines (n_points, 2) joined where one ends where the next starts or ends: fewer, longer lines
    (each SVG move costs an absolute point)."""
    chained = [lines[0]] if lines else []
    for line in lines[1:]:
        last = chained[-1]
        if np.array_equal(last[-1], line[0]):
            chained[-1] = np.concatenate([last, line[1:]])
        elif np.array_equal(last[-1], line[-1]):
            chained[-1] = np.concatenate([last, line[::-1][1:]])
        else:
            chained.append(line)
    return chained


def _arc_indices(geometry: dict) -> list[int]:
    """Every arc index a Polygon or MultiPolygon geometry uses (`~i` for arc i reversed); none if it has no arcs."""
    if not geometry.get("arcs"):
        return []
    polygons = geometry["arcs"] if geometry["type"] == "MultiPolygon" else [geometry["arcs"]]
    return [i for polygon in polygons for ring in polygon for i in ring]


@functools.cache
def load_atlas(path: Path = ATLAS_FILE) -> Atlas:
    """The bundled counties, decoded once per process (≈ 0.2 s) and shared: the Atlas is read-only."""
    return decode(json.loads(path.read_bytes()))


def fips_code(census_id: pd.Series) -> pd.Series:
    """5-digit FIPS strings from CensusId values as the ACS file writes them (1001 -> "01001");
    NaN where a value is not a 4- or 5-digit number."""
    return _fips_text(census_id).astype(object)


def _fips_text(census_id: pd.Series) -> pd.Series:
    """fips_code as pandas "string" (<NA> where none): hashed and compared without a Python object per row."""
    text = census_id.astype("string").str.strip()
    valid = text.str.fullmatch(r"\d{4,5}").fillna(False).astype(bool)
    return text.str.zfill(5).where(valid)


@dataclass(frozen=True)
class CountyMap:
    """What the map draws: one row per segmented county that has a shape, and what it could not draw."""

    drawn: pd.DataFrame  # fips, State, County, segment, distance; one row per county drawn
    without_fips: list[str]  # State-County keys with no valid CensusId
    without_shape: list[str]  # "State-County (FIPS)" of counties the atlas has no shape (with an area) for
    repeated: list[str] = field(default_factory=list)  # "State-County (FIPS)" of rows whose code an earlier row has
    # Rows of each kind ("without_fips", "without_shape", "repeated") where the lists above stop at the first
    # `listed` (CountyTally); None where they are whole.
    counts: Mapping[str, int] | None = None

    def count(self, kind: str) -> int:
        """Rows of one kind not drawn: "without_fips", "without_shape" or "repeated"."""
        return len(getattr(self, kind)) if self.counts is None else self.counts[kind]


NOT_DRAWN = ("without_fips", "without_shape", "repeated")


class CountyTally:
    """county_map of rows that come a block at a time (State-County keys, CensusId, State, County, segment,
    distance, in the file's order), in memory bounded by the atlas's counties and `listed` names per kind of row
    not drawn: a county drawn is the first row with its code, so a later block only adds codes not seen yet.
    `listed` None keeps every name (county_map, on whole frames)."""

    def __init__(self, atlas: Atlas, listed: int | None = LISTED) -> None:
        self.atlas, self.listed = atlas, listed
        self.shapes = pd.Index(list(atlas.counties))
        self.seen: set[str] = set()  # codes drawn so far: at most the atlas's counties
        self.drawn: list[pd.DataFrame] = []
        self.names: dict[str, list[str]] = {kind: [] for kind in NOT_DRAWN}
        self.counts = dict.fromkeys(NOT_DRAWN, 0)

    def add(self, joined: pd.DataFrame) -> None:
        """One block: `joined` indexed by State-County with CensusId, State, County, segment and distance."""
        fips = _fips_text(joined["CensusId"])
        no_fips = fips.isna().to_numpy(dtype=bool)
        no_shape = ~no_fips & ~fips.isin(self.shapes).to_numpy(dtype=bool)
        # One shape per county: a row repeating an earlier row's code (not a county file) is listed, not drawn.
        repeated = ~no_fips & ~no_shape & (fips.duplicated() | fips.isin(list(self.seen))).to_numpy(dtype=bool)
        self._note("without_fips", no_fips, lambda: pd.Index(joined.index[no_fips]).to_numpy(dtype=object))
        self._note("without_shape", no_shape, lambda: _labelled(fips[no_shape]))
        self._note("repeated", repeated, lambda: _labelled(fips[repeated]))
        kept = ~no_fips & ~no_shape & ~repeated
        if kept.any():
            drawn = joined.loc[kept, ["State", "County", "segment", "distance"]]
            drawn.insert(0, "fips", fips[kept].to_numpy(dtype=object))
            self.drawn.append(drawn)
            self.seen.update(fips[kept].tolist())

    def _note(self, kind: str, rows: np.ndarray, names) -> None:
        """Count a kind's rows in this block and keep their names while fewer than `listed` are kept."""
        count = int(np.count_nonzero(rows))
        if count and (self.listed is None or len(self.names[kind]) < self.listed):
            room = None if self.listed is None else self.listed - len(self.names[kind])
            chosen = names()[:room]  # not iterated whole: arrow strings iterate slowly
            self.names[kind].extend(chosen.tolist() if isinstance(chosen, np.ndarray) else chosen)
        self.counts[kind] += count

    def result(self) -> CountyMap:
        """The CountyMap of every row added; what cannot be drawn is logged (counted, the first LISTED named)."""
        counts, names = self.counts, self.names
        if counts["without_fips"] or counts["without_shape"]:
            log.warning(
                "county map: %d counties without a FIPS code (%s), %d without a shape in us-atlas (%s)",
                counts["without_fips"],
                _first(names["without_fips"], total=counts["without_fips"]),
                counts["without_shape"],
                _first(names["without_shape"], total=counts["without_shape"]),
            )
        if counts["repeated"]:
            log.warning(
                "county map: %d rows repeat another row's county code (%s)",
                counts["repeated"],
                _first(names["repeated"], total=counts["repeated"]),
            )
        columns = ["fips", "State", "County", "segment", "distance"]
        drawn = pd.concat(self.drawn) if self.drawn else pd.DataFrame(columns=columns)
        drawn = drawn.astype({"fips": object})  # as fips_code: a few thousand rows at most
        whole = self.listed is None
        return CountyMap(
            drawn.reset_index(drop=True),
            names["without_fips"],
            names["without_shape"],
            names["repeated"],
            None if whole else MappingProxyType(dict(counts)),
        )


def county_map(segments: pd.DataFrame, counties: pd.DataFrame, atlas: Atlas) -> CountyMap:
    """Join segments (State-County, segment, distance) to counties (State-County index: CensusId, State,
    County) and the atlas; counties that cannot be drawn are listed (and logged), never dropped silently. Whole
    frames, every name listed: CountyTally is the same a block at a time."""
    tally = CountyTally(atlas, listed=None)
    tally.add(joined_counties(segments, counties))
    return tally.result()


def joined_counties(segments: pd.DataFrame, counties: pd.DataFrame) -> pd.DataFrame:
    """counties (State-County index: CensusId, State, County) on the keys of segments (State-County, segment,
    distance), with its segment and distance: what CountyTally.add takes."""
    keys = pd.Index(segments[KEY_NAME])
    # reindex, not join: on the keys of `counties` in their order, as the pipeline writes both, it costs nothing
    # where join hashed a million keys. Only the columns drawn: segments.csv also has the components.
    joined = counties[["CensusId", "State", "County"]].reindex(keys)
    joined["segment"] = segments["segment"].to_numpy()
    joined["distance"] = segments["distance"].to_numpy()
    return joined


def _labelled(codes: pd.Series) -> list[str]:
    """Per row of codes ("string", indexed by State-County) its label, e.g. "Alabama-Autauga (01001)"; built
    column-wise, as a million rows may repeat a code."""
    return (codes.index.astype("string") + " (" + codes + ")").to_numpy(dtype=object).tolist()


def _first(keys: list[str], listed: int = LISTED, total: int | None = None) -> str:
    """The first `listed` keys, comma-separated, and how many more (of `total`, len(keys) when None): one bounded
    log line for any count (control characters escaped: the keys are the census's names)."""
    total = len(keys) if total is None else total
    more = f" and {total - listed:,} more" if total > listed else ""
    return (printable(", ".join(keys[:listed])) or "none") + more


def segment_colours(segments: list[int]) -> dict[int, str]:
    """A colour per segment ID, in ID order, that is the ID's own: segment 3 has the same colour in every run
    (IDs are stable across runs, include.segmentation.continuity), whatever other segments the run has."""
    return {s: segment_colour(s) for s in sorted(segments)}


def segment_colour(segment: int) -> str:
    """Segment ID -> its colour: PALETTE for IDs 0–8 (colour-blind safe), matplotlib's tab20 for the next 20,
    then hues a golden angle apart (k may be up to 50, and IDs grow as segments are born; hover names them)."""
    if segment < len(PALETTE):
        return PALETTE[segment]
    from matplotlib import colormaps, colors

    if segment < len(PALETTE) + 20:
        return colors.to_hex(colormaps["tab20"](segment - len(PALETTE)))
    hue = (segment * 0.6180339887498949) % 1.0
    return colors.to_hex(colors.hsv_to_rgb((hue, 0.55 + 0.3 * (segment % 2), 0.85 - 0.25 * (segment % 3 == 0))))


def map_png(drawn: pd.DataFrame, atlas: Atlas, labels: dict[int, str]) -> bytes:
    """A PNG choropleth: every atlas county filled with its segment's colour (grey: no segment), states
    outlined, a legend of segment labels under the map."""
    import matplotlib

    matplotlib.use("Agg")  # no display: render to files only
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection, PathCollection
    from matplotlib.patches import Patch

    colours = segment_colours(list(labels))
    fill = {row.fips: colours[int(row.segment)] for row in drawn.itertuples()}
    fips = list(atlas.counties)
    figure, axis = plt.subplots(figsize=(11, 8.2))
    axis.add_collection(
        PathCollection(
            [_path(atlas.counties[f]) for f in fips],
            facecolors=[fill.get(f, NO_DATA) for f in fips],
            edgecolors="white",
            linewidths=0.1,
        )
    )
    axis.add_collection(LineCollection(atlas.state_mesh, colors="#333333", linewidths=0.5))
    x0, y0, x1, y1 = atlas.bounds
    axis.set_xlim(x0, x1)
    axis.set_ylim(y1, y0)  # the atlas's y points down
    axis.set_aspect("equal")
    axis.axis("off")
    handles = [Patch(color=colours[s], label=f"segment {s}: {label}") for s, label in sorted(labels.items())]
    if len(drawn) < len(fips):
        handles.append(Patch(color=NO_DATA, label="no segment (not in this run)"))
    axis.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, fontsize=8, frameon=False)
    axis.set_title("Counties by segment", fontsize=12)
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()


def map_svg(drawn: pd.DataFrame, atlas: Atlas, labels: dict[int, str]) -> str:
    """An inline <svg>: one <path> per drawn county (data-fips, data-segment, a <title> shown on hover:
    "County, State — segment N: label — distance d"), a grey one without data-segment per atlas county
    the run has no segment for, then the state outlines as one path (the mesh: each border drawn once).
    Coordinates are rounded to 0.1 px and written relative (SVG `l`) to keep the markup small."""
    colours = segment_colours(list(labels))
    x0, y0, x1, y1 = (round(v) for v in atlas.bounds)
    view = f"{x0 - 1} {y0 - 1} {x1 - x0 + 2} {y1 - y0 + 2}"  # a px of margin for the outlines
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="segment-map" viewBox="{view}" '
        'role="img" aria-label="Counties by segment">',
        "<style>#segment-map path[data-segment]:hover { stroke: #000; stroke-width: 1 }</style>",
        '<g id="map-counties" stroke="#fff" stroke-width="0.2">',
    ]
    for row in drawn.itertuples():
        segment = int(row.segment)
        title = html.escape(
            f"{row.County}, {row.State} — segment {segment}: {labels.get(segment, '')} — distance {row.distance:.4f}"
        )
        parts.append(
            f'<path data-fips="{row.fips}" data-segment="{segment}" fill="{colours[segment]}" '
            f'd="{_svg_path(atlas.counties[row.fips])}"><title>{title}</title></path>'
        )
    for fips in sorted(atlas.counties.keys() - set(drawn["fips"])):  # e.g. dropped as incomplete: grey, not a hole
        state = atlas.state_names.get(fips[:2], fips[:2])
        title = html.escape(f"{atlas.county_names[fips]}, {state} — no segment in this run")
        shape = _svg_path(atlas.counties[fips])
        parts.append(f'<path data-fips="{fips}" fill="{NO_DATA}" d="{shape}"><title>{title}</title></path>')
    parts.append("</g>")
    states = "".join(_svg_line(line) for line in atlas.state_mesh)
    parts.append(f'<path id="map-states" fill="none" stroke="#333" stroke-width="0.5" d="{states}"/>')
    parts.append("</svg>")
    return "\n".join(parts)


def _decode_arcs(arcs: list[list[list[float]]], transform: dict | None) -> list[np.ndarray]:
    """Arcs as (n_points, 2) float64 coordinates: undo the delta encoding and quantization if any."""
    if transform is None:
        return [np.asarray(arc, dtype="float64") for arc in arcs]
    scale, translate = np.asarray(transform["scale"]), np.asarray(transform["translate"])
    return [np.cumsum(np.asarray(arc, dtype="float64"), axis=0) * scale + translate for arc in arcs]


def _area(ring: np.ndarray) -> float:
    """Signed area of a closed ring (n_points, 2), px² (shoelace)."""
    x, y = ring[:, 0], ring[:, 1]
    return float(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1])) / 2


def _path(rings: Rings) -> MplPath:
    """One compound matplotlib path of a shape's rings (holes wind the other way, so they stay empty)."""
    from matplotlib.path import Path as MplPath

    return MplPath.make_compound_path(*(MplPath(r, closed=True) for r in rings))


def _svg_path(rings: Rings) -> str:
    """SVG path data: per ring an absolute move, then relative lines in tenths of a px, closed."""
    out = []
    for ring in rings:
        tenths = np.round(ring[:-1] * 10).astype(np.int64)  # the last point repeats the first: `z` closes
        steps = np.diff(tenths, axis=0)
        steps = steps[(steps != 0).any(axis=1)]  # points that round onto the previous one add nothing
        if len(steps) < 2:  # a ring that rounds to a point or a line has no area (and `Mx yl z` is invalid)
            continue
        start = tenths[0] / 10
        moves = " ".join(f"{dx / 10:g} {dy / 10:g}" for dx, dy in steps.tolist())
        out.append(f"M{start[0]:g} {start[1]:g}l{moves}z")
    return "".join(out)


def _svg_line(line: np.ndarray) -> str:
    """SVG path data of an open line (n_points, 2) px: an absolute move, then relative lines in tenths of a px."""
    tenths = np.round(line * 10).astype(np.int64)
    steps = np.diff(tenths, axis=0)
    steps = steps[(steps != 0).any(axis=1)]
    if not len(steps):  # rounds to a point: nothing to draw
        return ""
    moves = " ".join(f"{dx / 10:g} {dy / 10:g}" for dx, dy in steps.tolist())
    return f"M{tenths[0][0] / 10:g} {tenths[0][1] / 10:g}l{moves}"
