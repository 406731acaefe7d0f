"""A self-contained HTML report of one segmentation run, with its plots as PNG files.

Drawn with matplotlib (Agg) and rendered with Jinja2; images are embedded as data URIs so the page
needs no network, and the same PNGs are returned for `plots/`.

The report draws aggregates of the run's rows, never the rows: `summarise` streams the work files a block at a
time (two passes over the features, one over the counties and their segments) into a RowSummary of bounded size
(histogram counts, the county section's listed rows, the map's drawn counties and first names not drawn), so the
memory of building a report does not depend on the number of rows (steps.build_report: ≈ 480 MiB peak RSS at
100 k to 1 M rows, 335 with the allocators settled: matplotlib, the atlas, a block of 65,536 rows; bound: 1 GB).
Everything on the page is what the whole frames gave, byte for byte, except one thing above TABLE_ROWS: each
segment's sampled counties are those with the smallest seeded hash of their State-County key (SAMPLE_HASH_KEY),
no longer a permutation of every row (which held them all); the same counties give the same sample every build.
"""

from __future__ import annotations

import base64
import io
import json
import struct
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: render to files only

import jinja2
import markupsafe
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd
import PIL.Image

from include.segmentation import analysis, k_choice, traits, us_map
from include.segmentation import results as segmentation_results
from include.segmentation.census import FEATURE_GROUPS, KEY_NAME, UNITS
from include.segmentation.cost_text import cost_text, usd

EDA_GROUPS = ("commuting", "employment type", "race/ethnicity", "income/poverty")
TOP_WEIGHTS = 8  # features shown per component
DISTINGUISHING = 5  # traits listed per segment under "what sets it apart"
# Up to this many rows the county table lists every one (sortable, filterable in the page); above it a browser
# would choke on the table, so the page summarises each segment and links the full data instead.
TABLE_ROWS = 5_000
EXTREMES = 5  # per segment, above TABLE_ROWS: the counties closest to and farthest from its centroid
SAMPLE = 5  # per segment, above TABLE_ROWS: counties drawn at random (fixed seed: the same page every build)
# The seed of that draw: a segment's sample is its SAMPLE counties with the smallest SipHash of their State-County
# key under this key (pandas.util.hash_array, 16 bytes), so it takes SAMPLE rows per segment to draw, not all.
SAMPLE_HASH_KEY = "popseg-sample-01"
FULL_DATA = "segments.csv"  # published next to report.html; named, not linked (the report links nothing)


@dataclass(frozen=True)
class RunResults:
    """What a run published, as the report draws it: the small tables whole, the rows as aggregates."""

    run: dict  # run.json
    variance: dict  # explained_variance.json
    weights: pd.DataFrame  # pca_components.csv: feature, c_1…c_n
    centroids: pd.DataFrame  # centroids.csv: segment, counties, c_1…c_n
    profiles: pd.DataFrame  # segment_profiles.csv: segment, counties, population, per feature mean/median [unit]
    rows: RowSummary  # summarise of cleaned.parquet, counties.parquet and the matched segments
    traits: traits.SegmentTraits  # of the segments in profiles' order
    median_distances: dict[int, float]  # per segment the median distance of its counties to its centroid
    k_selection: dict | None = None  # k_selection.json (k_choice.selection_document); None for runs from before it


def describe_component(weights: pd.Series, top: int = 3) -> str:
    """A short description of one component from its heaviest weights, e.g. "+Drive, +Carpool vs −Transit"."""
    heaviest = analysis.by_magnitude(weights, top)
    positive = [f"+{name}" for name, w in heaviest.items() if w > 0]
    negative = [f"−{name}" for name, w in heaviest.items() if w < 0]
    return " vs ".join(part for part in (", ".join(positive), ", ".join(negative)) if part)


def build_report(results: RunResults) -> tuple[str, dict[str, bytes]]:
    """(report.html, {"plots/<name>.png": bytes}) for one run."""
    drawn: dict[str, Future[bytes]] = {}  # encoded while the next one is drawn
    for group in EDA_GROUPS:
        drawn[f"plots/eda_{group.replace('/', '_').replace(' ', '_')}.png"] = _histograms(
            results.rows.histograms, group
        )
    drawn["plots/explained_variance.png"] = _variance_plot(results.variance)
    components = [c for c in results.weights.columns if c.startswith("c_")]
    weights = results.weights.set_index("feature")
    for name in components:
        drawn[f"plots/component_{name}.png"] = _weights_plot(weights[name])
    drawn["plots/segment_sizes.png"] = _sizes_plot(results.centroids)
    drawn["plots/centroid_heatmap.png"] = _heatmap(results.centroids, components)
    choosing = choosing_k(results.k_selection)
    if choosing and choosing["swept"]:
        drawn["plots/k_elbow.png"] = _elbow_plot(results.k_selection)
        drawn["plots/k_silhouette.png"] = _silhouette_plot(results.k_selection)

    described = results.traits
    labels = traits.segment_labels(described)
    segment_map, map_png = _segment_map(results, labels)
    plots = {name: png.result() for name, png in drawn.items()} | {"plots/segment_map.png": map_png}
    context = {
        "run": results.run,
        "params_json": json.dumps(results.run.get("params", {}), indent=2, default=str),
        "variance": results.variance,
        "features": list(results.rows.histograms),
        "groups": EDA_GROUPS,
        "components": [
            {
                "name": name,
                "share": results.variance["per_component"][i],
                "description": describe_component(weights[name]),
                "top": analysis.by_magnitude(weights[name], TOP_WEIGHTS),
            }
            for i, name in enumerate(components)
        ],
        "segments": [
            {
                "segment": int(row.segment),
                "counties": int(row.counties),
                "population": int(row.population),
                "share": float(row.population_share),
                "label": labels[int(row.segment)],
            }
            for row in results.profiles.itertuples()
        ],
        "distinguishing": traits.distinguishing_traits(described, DISTINGUISHING),
        "ordinal": traits.ordinal,
        "county_table": county_table(results.rows.counties, labels, results.median_distances),
        "full_data": FULL_DATA,
        "images": {name: _image(data) for name, data in plots.items()},
        "segment_map": segment_map,
        "since": since_last_run(results.run.get("continuity")),
        "choosing_k": choosing,
        "cost": run_cost(results.run.get("cost")),
    }
    html = _TEMPLATE.render(**context)
    return html, plots


# What each kind of cost line is, as the report's cost table names it.
COST_KINDS = {"training": "training job", "hosting": "endpoint", "transform": "batch transform job"}


def run_cost(cost: dict | None) -> dict:
    """The report's estimated cost: the headline (cost_text), each line as the table shows it (instance-seconds,
    USD per instance-hour, USD or why there is no price) and where the prices come from."""
    items = [
        {
            "what": COST_KINDS.get(item.get("kind"), item.get("kind")),
            "name": item.get("name"),
            "instances": f"{item.get('instance_count')} × {item.get('instance_type')}",
            "instance_seconds": "—" if item.get("instance_seconds") is None else f"{item['instance_seconds']:,.0f}",
            "per_hour": "—" if item.get("usd_per_hour") is None else f"${item['usd_per_hour']:g}",
            "usd": usd(item["usd"]) if item.get("usd") is not None else None,
            "no_price": item.get("no_price"),
        }
        for item in (cost or {}).get("items") or []
    ]
    table = (cost or {}).get("price_table") or {}
    source = table.get("source")
    return {
        "headline": cost_text(cost),
        "items": items,
        "table": table.get("name"),
        "source": source if isinstance(source, str) and source.startswith("https://") else None,
        "read": table.get("read"),
    }


def since_last_run(continuity: dict | None) -> dict | None:
    """The "Since the last run" section from run.json's `continuity` (None for runs from before it): its
    figures, plus the transition table as rows (previous segment, counts per this run's segment)."""
    if not continuity or not continuity.get("churn"):
        return continuity
    churn = continuity["churn"]
    counts = {(t["previous_segment"], t["segment"]): t["counties"] for t in churn["transitions"]}
    previous = sorted({old for old, _ in counts})
    current = sorted({new for _, new in counts})
    rows = [(old, [counts.get((old, new), 0) for new in current]) for old in previous]
    return {**continuity, "columns": current, "rows": rows}


def choosing_k(selection: dict | None) -> dict | None:
    """The "Choosing k" section from k_selection.json (None for runs from before it: no section): the document
    plus `swept` (more than one candidate), `first`/`last` k, `counties` (rows each candidate measured), the
    silhouette's `sample` (counties it was computed on) and per candidate `size_min`, `size_max` and its metrics
    as shown (`shown`: test_msd, test_ssd, within_ss with 4 significant digits, silhouette with 3 decimals, "—"
    for a metric the candidate has not)."""
    if not selection:
        return None
    candidates = selection["candidates"]
    counties = sum(candidates[0]["sizes"])
    return {
        **selection,
        "swept": len(candidates) > 1,
        "first": candidates[0]["k"],
        "last": candidates[-1]["k"],
        "counties": counties,
        "sample": min(selection["silhouette_sample"], counties),
        "msd_from_sagemaker": selection["msd_source"] == k_choice.MSD_FROM_SAGEMAKER,
        # What the rule the run did not use picks from the same candidates (k_selection.json's by_rule).
        "other_rules": {
            rule: k for rule, k in (selection.get("by_rule") or {}).items() if rule != selection["rule"] and k
        },
        "candidates": [
            {
                **candidate,
                "size_min": min(candidate["sizes"]),
                "size_max": max(candidate["sizes"]),
                "shown": {name: significant(candidate[name]) for name in ("test_msd", "test_ssd", "within_ss")}
                | {"silhouette": "—" if candidate["silhouette"] is None else f"{candidate['silhouette']:.3f}"},
            }
            for candidate in candidates
        ],
    }


def significant(value: float | None, digits: int = 4) -> str:
    """`digits` significant digits with thousands separators and no exponent: 0.01234, 12.35, 1,235; "—" for None."""
    if value is None:
        return "—"
    if value == 0:
        return "0"
    decimals = max(0, digits - 1 - int(np.floor(np.log10(abs(value)))))
    return f"{value:,.{decimals}f}"


def county_table(rows: CountyRows, labels: dict[int, str], median_distances: dict[int, float]) -> dict:
    """The page's county section from the counties' CountyRows, the segments' labels and each segment's median
    distance.

    Up to TABLE_ROWS rows: {"complete": True, "rows": every county with its FIPS code, its segment label and
    the words the page's filter searches (search_words)}. Above:
    {"complete": False, "rows": count, "segments": per segment its counties, median and largest distance, and
    its EXTREMES closest and farthest counties and SAMPLE sampled ones}; the page links FULL_DATA for the rest.
    """
    if rows.every is not None:
        every = [county | {"label": labels[county["segment"]]} for county in rows.every]
        return {"complete": True, "rows": every}
    per_segment = [
        {
            "segment": segment,
            "label": labels[segment],
            "counties": listed["counties"],
            "median": float(median_distances[segment]),
            "max": listed["farthest"][0]["distance"],
            "closest": listed["closest"],
            "farthest": listed["farthest"],
            "sample": listed["sample"],
        }
        for segment, listed in sorted(rows.segments.items())
    ]
    return {"complete": False, "rows": rows.rows, "segments": per_segment}


@dataclass(frozen=True)
class CountyRows:
    """The county section's counties, from rows that came a block at a time (CountyRowsTally)."""

    rows: int  # counties
    # Up to TABLE_ROWS rows, every county in row order: State-County, segment, distance, fips ("" for none) and
    # search (search_words); None above.
    every: list[dict] | None
    # Per segment ID: "counties" (its count) and lists of {State-County, distance}: "closest" (EXTREMES, nearest
    # first, ties in row order), "farthest" (EXTREMES, farthest first, ties last row first) and "sample" (SAMPLE,
    # nearest first).
    segments: dict[int, dict]


class CountyRowsTally:
    """CountyRows of rows added a block at a time, in memory bounded by TABLE_ROWS and per segment the
    2 × EXTREMES + SAMPLE rows it may list: each block is merged with the rows kept so far and cut back to them."""

    def __init__(self) -> None:
        self.rows = 0
        self.every: list[dict] | None = []
        self.counts: dict[int, int] = {}
        self.extremes = self.sampled = _Rows.empty()

    def add(self, keys: np.ndarray, census_ids: pd.Series, segment: np.ndarray, distance: np.ndarray) -> None:
        """One block of (m,) State-County keys (object), their CensusId, int segment IDs and float64 distances."""
        m = len(keys)
        if self.every is not None and self.rows + m <= TABLE_ROWS:
            fips = segmentation_results.fips_codes(census_ids).to_pylist()
            # The State-County key holds the state's and the county's words ("Texas-Travis" -> "texas travis").
            self.every.extend(
                {KEY_NAME: key, "segment": s, "distance": d, "fips": code or "", "search": search_words(key, code)}
                for key, s, d, code in zip(keys.tolist(), segment.tolist(), distance.tolist(), fips, strict=True)
            )
        else:
            self.every = None
        for value, count in zip(*np.unique(segment, return_counts=True), strict=True):
            self.counts[int(value)] = self.counts.get(int(value), 0) + int(count)
        block = _Rows(
            segment,
            distance,
            np.arange(self.rows, self.rows + m),
            keys,
            pd.util.hash_array(keys, hash_key=SAMPLE_HASH_KEY),
        )
        self.rows += m
        extremes = self.extremes.concat(block)
        ordered = np.lexsort((extremes.position, extremes.distance, extremes.segment))  # as today's stable sort
        self.extremes = extremes.take(ordered[_ends_per_segment(extremes.segment[ordered], EXTREMES)])
        sampled = self.sampled.concat(block)
        ordered = np.lexsort((sampled.position, sampled.hash, sampled.segment))
        self.sampled = sampled.take(ordered[_ends_per_segment(sampled.segment[ordered], SAMPLE, last=False)])

    def result(self) -> CountyRows:
        extremes, sampled = self.extremes, self.sampled
        ordered = np.lexsort((extremes.position, extremes.distance, extremes.segment))
        segments = {}
        for value in sorted(self.counts):
            members = ordered[extremes.segment[ordered] == value]  # this segment's kept rows, nearest first
            sample = np.flatnonzero(sampled.segment == value)
            sample = sample[np.lexsort((sampled.position[sample], sampled.hash[sample]))]  # the draw's order
            segments[value] = {
                "counties": self.counts[value],
                "closest": extremes.listed(members[:EXTREMES]),
                "farthest": extremes.listed(members[::-1][:EXTREMES]),
                "sample": sampled.listed(sample[np.argsort(sampled.distance[sample], kind="stable")]),
            }
        return CountyRows(self.rows, self.every, segments)


@dataclass(frozen=True)
class _Rows:
    """Rows kept by CountyRowsTally: (n,) segment, distance, row position, State-County key and its sample hash."""

    segment: np.ndarray
    distance: np.ndarray
    position: np.ndarray
    key: np.ndarray
    hash: np.ndarray

    @classmethod
    def empty(cls) -> _Rows:
        return cls(
            np.empty(0, "int64"),
            np.empty(0, "float64"),
            np.empty(0, "int64"),
            np.empty(0, object),
            np.empty(0, "uint64"),
        )

    def concat(self, other: _Rows) -> _Rows:
        return _Rows(*(np.concatenate([a, b]) for a, b in zip(self.columns(), other.columns(), strict=True)))

    def take(self, rows: np.ndarray) -> _Rows:
        return _Rows(*(column[rows] for column in self.columns()))

    def columns(self) -> tuple[np.ndarray, ...]:
        return self.segment, self.distance, self.position, self.key, self.hash

    def listed(self, rows: np.ndarray) -> list[dict]:
        return [
            {KEY_NAME: key, "distance": float(d)}
            for key, d in zip(self.key[rows].tolist(), self.distance[rows].tolist(), strict=True)
        ]


def _ends_per_segment(segment: np.ndarray, n: int, last: bool = True) -> np.ndarray:
    """Positions in (rows,) `segment` (grouped: equal IDs adjacent) of each group's first n rows, and its last n
    with `last`."""
    if not len(segment):
        return np.empty(0, "int64")
    starts = np.flatnonzero(np.r_[True, segment[1:] != segment[:-1]])
    sizes = np.diff(np.r_[starts, len(segment)])
    rank = np.arange(len(segment)) - np.repeat(starts, sizes)  # place within its group
    keep = rank < n
    if last:
        keep |= rank >= np.repeat(sizes, sizes) - n
    return np.flatnonzero(keep)


@dataclass(frozen=True)
class RowSummary:
    """What the report draws of the run's rows, bounded whatever their number (summarise)."""

    histograms: dict[str, Histogram]  # per feature, in the census's column order
    counties: CountyRows  # the county section
    county_map: us_map.CountyMap  # the map: counties drawn, the first us_map.LISTED names of each kind not drawn


def summarise(
    features: Callable[[], Iterable[pd.DataFrame]],
    counties: Iterable[tuple[pd.DataFrame, pd.DataFrame]],
    atlas: us_map.Atlas | None = None,
) -> RowSummary:
    """The RowSummary of a run's rows, streamed: `features()` gives (m, 34) blocks of cleaned.parquet in original
    units (read twice: the histograms' ranges, then their counts); `counties` gives pairs of equal-length blocks
    of counties.parquet (State-County index: CensusId, State, County) and the segments (State-County, segment,
    distance, …), in the same row order (steps._side_by_side reads the two files so)."""
    histograms = HistogramTally(feature_ranges(features()))
    for block in features():
        histograms.add(block)
    table, drawn = CountyRowsTally(), us_map.CountyTally(atlas or us_map.load_atlas())
    start = 0
    for places, segments in counties:
        keys = segments[KEY_NAME].to_numpy(dtype=object)
        if not np.array_equal(keys, places.index.to_numpy(dtype=object)):
            row = start + int(np.flatnonzero(keys != places.index.to_numpy(dtype=object))[0])
            raise ValueError(f"row {row:,}: the segments and counties.parquet disagree on the county ({KEY_NAME})")
        segment, distance = segments["segment"].to_numpy(dtype="int64"), segments["distance"].to_numpy(dtype="float64")
        table.add(keys, places["CensusId"], segment, distance)
        drawn.add(us_map.joined_counties(segments, places))
        start += len(keys)
    return RowSummary(histograms.result(), table.result(), drawn.result())


def summarise_frames(
    features: pd.DataFrame, counties: pd.DataFrame, segments: pd.DataFrame, block_rows: int = 65_536
) -> RowSummary:
    """summarise of whole frames, cut into blocks of `block_rows` (devtools.synthetic_run and the tests)."""

    def blocks(frame: pd.DataFrame) -> Iterator[pd.DataFrame]:
        return (frame.iloc[start : start + block_rows] for start in range(0, len(frame), block_rows))

    return summarise(lambda: blocks(features), zip(blocks(counties), blocks(segments), strict=True))


def search_words(*texts: str | None) -> str:
    """What the county filter matches typed words against: the texts' words, lower case, accents dropped
    ("Doña Ana" -> "dona ana"), joined by spaces. The page's script folds what is typed the same way (NFKD,
    combining marks dropped, split on anything but letters and digits) and shows a row when every typed word
    is in it, in any order."""
    folded = unicodedata.normalize("NFKD", " ".join(t for t in texts if t)).lower()  # as JavaScript's toLowerCase
    kept = "".join(c if c.isalnum() else " " for c in folded if not unicodedata.category(c).startswith("M"))
    return " ".join(kept.split())


def _segment_map(results: RunResults, labels: dict[int, str]) -> tuple[dict, bytes]:
    """The county map: ({"svg": inline SVG markup, "colours", "drawn", "without_fips", "without_shape",
    "not_drawn": the first us_map.LISTED of each kind, "not_drawn_total"}, PNG bytes)."""
    atlas = us_map.load_atlas()
    drawn = results.rows.county_map
    listed = us_map.LISTED
    context = {
        "svg": markupsafe.Markup(us_map.map_svg(drawn.drawn, atlas, labels)),  # built from escaped parts
        "colours": us_map.segment_colours(list(labels)),
        "drawn": len(drawn.drawn),
        "without_fips": drawn.count("without_fips"),
        "without_shape": drawn.count("without_shape"),
        "repeated": drawn.count("repeated"),
        # Bounded: a million rows without a county code must not become a million names on the page.
        "not_drawn": drawn.without_shape[:listed]
        + [f"{key} (no FIPS code)" for key in drawn.without_fips[:listed]]
        + [f"{key}, code repeated" for key in drawn.repeated[:listed]],
        "not_drawn_total": sum(map(drawn.count, us_map.NOT_DRAWN)),
    }
    return context, us_map.map_png(drawn.drawn, atlas, labels)


def _image(png: bytes) -> dict:
    """A PNG for the page: its data (base64) and its size in CSS px, the 1× size of a PNG drawn at 2×."""
    width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk, right after the 8-byte signature
    return {"data": base64.b64encode(png).decode(), "width": width // SCALE, "height": height // SCALE}


CSS_DPI = 100  # figure inches to CSS px: a figure of w inches is shown w × 100 px wide
SCALE = 2  # PNGs hold SCALE device px per CSS px: crisp on HiDPI screens, shown at their 1× size by the page
PAGE_INCHES = 11.0  # the report's 1,100 px column: figures are drawn at the size they are shown
PANELS_PER_ROW = 4


# One thread turns drawn figures into PNG bytes while the next figure is drawn: quantizing and zlib release the
# GIL, so on two cores the encoding (a fifth of build_report's time) overlaps the drawing.
_ENCODER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="popseg-png")


def _png(figure: plt.Figure) -> Future[bytes]:
    """The figure as a PNG of SCALE × its size in CSS px, in 256 colours: a chart's flat fills, text and
    antialiasing fit them, at ≈ 40 % of an RGBA PNG's bytes (the report embeds every plot). Median cut, not
    the faster octree: the octree turns the white background into an off-white box on the white page.
    Drawn here; encoded by _ENCODER (the figure is closed before this returns)."""
    figure.set_dpi(CSS_DPI * SCALE)
    figure.tight_layout()  # cheaper than bbox_inches="tight", which draws the figure twice (and keeps the size)
    figure.canvas.draw()
    image = PIL.Image.fromarray(np.asarray(figure.canvas.buffer_rgba())).convert("RGB")
    plt.close(figure)
    return _ENCODER.submit(_encode_png, image)


def _encode_png(image: PIL.Image.Image) -> bytes:
    buffer = io.BytesIO()
    # No `optimize`: its extra zlib passes cost ≈ 0.8 s per report (15 figures) to save ≈ 5 % of the bytes.
    image.quantize(256, method=PIL.Image.Quantize.MEDIANCUT).save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass(frozen=True)
class Histogram:
    """One feature's distribution over counties: (bins,) counts and (bins + 1,) edges, in the feature's unit."""

    counts: np.ndarray
    edges: np.ndarray
    logarithmic: bool


def feature_histogram(values: np.ndarray, unit: str, bins: int = 30) -> Histogram:
    """Counts of (rows,) values in `bins` bins, by np.histogram: only these aggregates are drawn, so a million
    rows cost one pass. Head counts and dollars span orders of magnitude between counties: log-spaced bins."""
    values = np.asarray(values, dtype="float64")
    low, high = float(values.min()), float(values.max())
    logarithmic = unit in ("people", "US$") and low > 0 and high > low
    counts, edges = np.histogram(values, bins=np.geomspace(low, high, bins + 1) if logarithmic else bins)
    return Histogram(counts, edges, logarithmic)


def feature_ranges(blocks: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Per feature (columns) its "low" and "high" (rows) over every block of (m, features) values: the first
    pass of the histograms."""
    lows, highs, columns = [], [], None
    for block in blocks:
        if len(block):
            values = block.to_numpy(dtype="float64")
            lows.append(values.min(axis=0))
            highs.append(values.max(axis=0))
            columns = block.columns
    if columns is None:
        raise ValueError("no rows to draw histograms of")
    return pd.DataFrame([np.min(lows, axis=0), np.max(highs, axis=0)], index=["low", "high"], columns=columns)


class HistogramTally:
    """feature_histogram of every feature, a block of rows at a time, once feature_ranges has the ranges: the
    same bins (linear bins by np.histogram's own range arithmetic, log bins by their edges), counts summed."""

    def __init__(self, ranges: pd.DataFrame, bins: int = 30) -> None:
        self.bins: dict[str, int | np.ndarray] = {}
        self.histograms: dict[str, Histogram] = {}
        for column in ranges.columns:
            low, high = float(ranges.at["low", column]), float(ranges.at["high", column])
            logarithmic = UNITS.get(column, "") in ("people", "US$") and low > 0 and high > low
            edges = np.geomspace(low, high, bins + 1) if logarithmic else np.histogram_bin_edges([], bins, (low, high))
            self.bins[column] = edges if logarithmic else bins
            self.histograms[column] = Histogram(np.zeros(bins, dtype="int64"), edges, logarithmic)
        self.ranges = ranges

    def add(self, features: pd.DataFrame) -> None:
        for column, histogram in self.histograms.items():
            values = features[column].to_numpy(dtype="float64")
            linear = None if histogram.logarithmic else tuple(self.ranges[column])
            histogram.counts[:] += np.histogram(values, bins=self.bins[column], range=linear)[0]

    def result(self) -> dict[str, Histogram]:
        return self.histograms


def _histograms(histograms: dict[str, Histogram], group: str) -> Future[bytes]:
    columns = [c for c in FEATURE_GROUPS[group] if c in histograms]
    rows = -(-len(columns) // PANELS_PER_ROW)
    figure, axes = plt.subplots(rows, PANELS_PER_ROW, figsize=(PAGE_INCHES, 2.6 * rows), squeeze=False)
    for axis, column in zip(axes.flat, columns, strict=False):
        unit = UNITS.get(column, "")
        histogram = histograms[column]
        axis.stairs(histogram.counts, histogram.edges, fill=True, color="#4477aa")  # one artist, not 30 bars
        if histogram.logarithmic:
            axis.set_xscale("log")
            # Labels on powers of ten only, plus 2 and 5 when the data spans under two decades (else
            # matplotlib labels minor ticks as overlapping "2×10⁴ 3×10⁴ …").
            decades = np.log10(histogram.edges[-1] / histogram.edges[0])
            axis.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0) if decades < 2 else (1.0,)))
            axis.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        axis.set_title(column, fontsize=10)
        axis.set_xlabel(f"{unit}{' (log scale)' if histogram.logarithmic else ''}", fontsize=9)
        axis.set_ylabel("counties", fontsize=9)
        axis.tick_params(labelsize=8)
        axis.xaxis.set_major_formatter(_tick_format(unit))
    for axis in list(axes.flat)[len(columns) :]:
        axis.set_visible(False)
    figure.suptitle(f"Counties by {group}", fontsize=11)
    return _png(figure)


def _tick_format(unit: str) -> matplotlib.ticker.Formatter:
    if unit == "US$":
        return matplotlib.ticker.FuncFormatter(lambda x, _: f"${x / 1000:,.0f}k" if x >= 1000 else f"${x:,.0f}")
    if unit == "people":  # short labels: log axes tick each power of ten, and "100,000" beside "1M" overlaps
        return matplotlib.ticker.FuncFormatter(
            lambda x, _: f"{x / 1e6:g}M" if x >= 1e6 else f"{x / 1e3:g}k" if x >= 1e3 else f"{x:g}"
        )
    return matplotlib.ticker.ScalarFormatter()


def _variance_plot(variance: dict) -> Future[bytes]:
    shares = np.asarray(variance["per_component"])
    cumulative = np.asarray(variance["cumulative"])
    x = np.arange(1, len(shares) + 1)
    figure, axis = plt.subplots(figsize=(8, 3.2))
    axis.bar(x, shares, color="#88aacc", label="per component")
    axis.plot(x, cumulative, color="#223355", marker=".", label="cumulative")
    axis.axhline(variance["threshold"], color="#cc6677", linestyle="--", label=f"threshold {variance['threshold']}")
    axis.axvline(variance["n_components"], color="#117733", linestyle=":", label=f"n = {variance['n_components']}")
    axis.set_xlabel("component")
    axis.set_ylabel("share of variance")
    axis.legend(fontsize=8)
    return _png(figure)


def _weights_plot(weights: pd.Series) -> Future[bytes]:
    top = analysis.by_magnitude(weights, TOP_WEIGHTS).iloc[::-1]  # barh draws the first bar at the bottom
    figure, axis = plt.subplots(figsize=(PAGE_INCHES / 2 - 0.1, 3.0))  # two per row at native size
    # Blue and orange (Paul Tol's bright scheme): told apart with any colour vision.
    axis.barh(top.index, top.to_numpy(), color=["#4477aa" if w > 0 else "#ee7733" for w in top])
    limit = float(np.abs(top).max()) * 1.1 or 1.0
    axis.set_xlim(-limit, limit)  # 0 in the middle: sign reads at a glance
    axis.axvline(0, color="black", linewidth=0.6)
    axis.set_xlabel("weight (blue: more of it raises the component, orange: lowers it)", fontsize=8)
    axis.set_title(f"{weights.name}: the {TOP_WEIGHTS} heaviest feature weights", fontsize=10)
    axis.tick_params(labelsize=9)
    return _png(figure)


def _sizes_plot(centroids: pd.DataFrame) -> Future[bytes]:
    figure, axis = plt.subplots(figsize=(6, 2.8))
    axis.bar(centroids["segment"].astype(str), centroids["counties"], color="#4477aa")
    axis.set_xlabel("segment")
    axis.set_ylabel("counties")
    return _png(figure)


def _heatmap(centroids: pd.DataFrame, components: list[str]) -> Future[bytes]:
    values = centroids[components].to_numpy()
    figure, axis = plt.subplots(figsize=(min(PAGE_INCHES, 1.5 + 0.9 * len(components)), 0.8 + 0.5 * len(values)))
    # Diverging, centred at 0; the limit is the 95th percentile of |value| so one outlier does not wash
    # every other cell out (cells beyond it show the end colour, and their number).
    limit = float(np.percentile(np.abs(values), 95)) or 1.0
    image = axis.imshow(values, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    for (row, column), value in np.ndenumerate(values):
        color = "white" if abs(value) > 0.6 * limit else "black"
        axis.text(column, row, f"{value:.2f}", ha="center", va="center", fontsize=8, color=color)
    axis.set_xticks(range(len(components)), components)
    axis.set_yticks(range(len(values)), [f"segment {s}" for s in centroids["segment"]])
    figure.colorbar(image, ax=axis, shrink=0.8, label="centroid coordinate")
    axis.set_title("Centroids in component space (blue below, red above the mean county)", fontsize=10)
    return _png(figure)


K_PANEL = (PAGE_INCHES / 2 - 0.1, 3.3)  # the two k charts side by side in the report's column
CHOSEN = "#117733"  # the chosen k: green, as the variance plot's chosen n


def _elbow_plot(selection: dict) -> Future[bytes]:
    """SageMaker's test:msd and the artifacts' within-cluster SS per county against k (the same scale: the test
    channel is the training rows), within-cluster SS on the right axis; the chosen k marked, and under the elbow
    rule the chord the knee lies farthest below."""
    candidates = selection["candidates"]
    ks = np.array([c["k"] for c in candidates])
    counties = sum(candidates[0]["sizes"])
    ours = np.array([c["within_ss"] / counties for c in candidates])
    figure, axis = plt.subplots(figsize=K_PANEL)
    reported = [(c["k"], c["test_msd"]) for c in candidates if c["test_msd"] is not None]
    if reported:
        axis.plot(*zip(*reported, strict=True), color="#4477aa", marker="o", label="test:msd (SageMaker)")
    axis.plot(ks, ours, color="#ee7733", marker=".", linestyle="--", label="within-cluster SS / counties (centroids)")
    if selection["rule"] == "elbow":
        curve = ours if selection["msd_source"] != k_choice.MSD_FROM_SAGEMAKER else [v for _, v in reported]
        axis.plot([ks[0], ks[-1]], [curve[0], curve[-1]], color="#999999", linestyle=":", label="chord, first to last")
    axis.axvline(selection["chosen_k"], color=CHOSEN, linestyle=":", label=f"chosen k = {selection['chosen_k']}")
    axis.set_xticks(ks)
    axis.set_xlabel("k (segments)")
    axis.set_ylabel("mean squared distance")
    right = axis.secondary_yaxis("right", functions=(lambda m: m * counties, lambda ss: ss / counties))
    right.set_ylabel("within-cluster SS")
    axis.set_title("Elbow: distance of counties to their nearest centroid", fontsize=10)
    axis.legend(fontsize=8)
    return _png(figure)


def _silhouette_plot(selection: dict) -> Future[bytes]:
    """Mean silhouette against k (candidates without one left out), the chosen k marked."""
    candidates = selection["candidates"]
    scored = [(c["k"], c["silhouette"]) for c in candidates if c["silhouette"] is not None]
    figure, axis = plt.subplots(figsize=K_PANEL)
    if scored:
        axis.plot(*zip(*scored, strict=True), color="#4477aa", marker="o", label="mean silhouette")
    axis.axvline(selection["chosen_k"], color=CHOSEN, linestyle=":", label=f"chosen k = {selection['chosen_k']}")
    axis.set_xticks([c["k"] for c in candidates])
    axis.set_xlabel("k (segments)")
    axis.set_ylabel("mean silhouette (−1…1, higher is better)")
    counties = sum(candidates[0]["sizes"])
    sample = min(selection["silhouette_sample"], counties)
    drawn = f"{sample:,} counties drawn with seed {selection['seed']}" if sample < counties else "every county"
    axis.set_title(f"Silhouette, on {drawn}", fontsize=10)
    axis.legend(fontsize=8)
    return _png(figure)


_TEMPLATE = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True
).get_template("report.html.j2")
