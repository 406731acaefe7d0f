"""Choosing the number of segments k from the data: the candidates a sweep trains, each candidate's metrics,
and the rule that picks one.

A sweep trains one K-Means job per k in k_min…k_max. Per candidate, SageMaker reports the mean and sum of
squared distances of the test channel's rows to their nearest centroid (`test:msd`, `test:ssd`, in the job's
FinalMetricDataList); the test channel is the training rows, so these are the fit's own distances. What
SageMaker does not compute is measured here from the candidate's centroids: the within-cluster sum of squares
on every row, the cluster sizes, and the silhouette on a seeded sample of counties.

Two rules pick k:
- silhouette: the k with the highest mean silhouette (how much closer a county is to its own segment than to
  the next one, −1…1); ties go to the smaller k.
- elbow: the knee of the msd curve by Kneedle (Satopää et al., 2011): both axes scaled to [0, 1], the k farthest
  below the straight line from the first candidate to the last; ties go to the smaller k. Past the knee, more
  segments lower the distance less than before.

With one candidate (k fixed by the *Number of segments* param) the rule is "fixed". Pure: numpy and
scikit-learn, no Airflow, no AWS.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

# One training job (and its instances) per candidate, all started at once: bounds what one trigger starts and bills.
MAX_CANDIDATES = 12
# Counties the silhouette is computed on: every county of the census (3,218); on a million rows a sample, whose
# 5,000² pairwise distances take ≈ 0.3 s per candidate (all of them would be a million²).
SILHOUETTE_SAMPLE = 5000
SEED = 0  # the silhouette sample's: the same counties for every candidate and every run
# Rows up to which the sample is silhouette_score's own (the first SILHOUETTE_SAMPLE of a seeded permutation of the
# rows, 8 bytes a row: 16 MiB here), so that every run up to and past a million rows keeps its silhouette; above,
# a seeded draw without replacement whose memory does not grow with the rows (silhouette_rows).
SILHOUETTE_EXACT_ROWS = 1 << 21
RULES = ("silhouette", "elbow")
MIN_K = 2  # as the k param's minimum: one segment is no segmentation, and has no silhouette
ELBOW_MIN_CANDIDATES = 3  # a knee needs a point between the two ends of the chord
# sklearn's pairwise-distance chunks (MiB): the 5,000 × 5,000 distances of the sample are 200 MB at once.
SILHOUETTE_WORKING_MEMORY = 64
_BLOCK_ELEMENTS = 1 << 20  # rows × centroids × components measured at a time: 8 MiB of float64 temporaries

MSD_FROM_SAGEMAKER = "SageMaker test:msd (the test channel is the training rows)"
MSD_FROM_ARTIFACT = "within_ss / rows, from the artifact (a candidate's job reported no test:msd)"


def candidates(k: int, k_min: int | None, k_max: int | None, rule: str, rows: int) -> list[int]:
    """The k values to train: [k] without a sweep (k_min and k_max both None); k_min…k_max with one.

    ValueError naming the params when only one of k_min/k_max is set, k_min > k_max, k_min below MIN_K, more
    than MAX_CANDIDATES, a k above `rows` (the counties the census kept), or the elbow rule with fewer than
    ELBOW_MIN_CANDIDATES candidates; and for a rule not in RULES."""
    if rule not in RULES:
        raise ValueError(f"k_rule = {rule!r} is not a rule: expected one of {', '.join(RULES)}")
    if (k_min is None) != (k_max is None):
        given, missing = ("k_min", "k_max") if k_max is None else ("k_max", "k_min")
        raise ValueError(
            f"{given} is set but {missing} is not: a sweep needs both (Smallest k and Largest k), or neither "
            f"to train k = {k} only"
        )
    if k_min is None or k_max is None:
        if k > rows:
            raise ValueError(f"k = {k} segments is more than the {rows:,} counties the census kept")
        return [k]
    if k_min < MIN_K:
        raise ValueError(f"k_min = {k_min} is below {MIN_K}: a sweep starts at {MIN_K} segments or more")
    if k_min > k_max:
        raise ValueError(f"k_min = {k_min} is above k_max = {k_max}: the sweep is k_min…k_max")
    count = k_max - k_min + 1
    if count > MAX_CANDIDATES:
        raise ValueError(
            f"k_min = {k_min} to k_max = {k_max} is {count} candidates, more than {MAX_CANDIDATES} (one training "
            f"job each): narrow the range, e.g. k_max = {k_min + MAX_CANDIDATES - 1}"
        )
    if k_max > rows:
        raise ValueError(f"k_max = {k_max} segments is more than the {rows:,} counties the census kept")
    if rule == "elbow" and count < ELBOW_MIN_CANDIDATES:
        raise ValueError(
            f"k_rule = 'elbow' needs at least {ELBOW_MIN_CANDIDATES} candidates to find a knee, k_min = {k_min} to "
            f"k_max = {k_max} is {count}: widen the range or use k_rule = 'silhouette'"
        )
    return list(range(k_min, k_max + 1))


@dataclass(frozen=True)
class CandidateMetrics:
    """One trained candidate: SageMaker's metrics from its job, ours from its artifact."""

    k: int
    job_name: str
    test_msd: float | None  # SageMaker's, FinalMetricDataList test:msd
    test_ssd: float | None  # SageMaker's test:ssd
    train_msd: float | None  # SageMaker's train:msd (as logged), None when absent
    within_ss: float  # sum of squared distances of ALL rows to their nearest centroid (ours)
    silhouette: float | None  # sklearn on the seeded sample; None when fewer than 2 clusters are non-empty
    sizes: list[int]  # counties per cluster, (k,) in the artifact's centroid order


def measure(components: np.ndarray, centroids: np.ndarray) -> tuple[float, float | None, list[int]]:
    """components (n, d) float, centroids (k, d) float, both in the K-Means input's space (PCA components):
    (within_ss, silhouette on the seeded sample, sizes).

    within_ss: Σ over all n rows of the squared Euclidean distance to the nearest centroid (float64), summed a
    block of rows at a time (the blocks' sums added in order).
    sizes: (k,) rows per centroid, the nearest one (ties: the lower index, as argmin), empty clusters 0.
    silhouette: sklearn's silhouette_score on the rows of `silhouette_rows(n)` in float64 (sklearn on float32 rows
    agrees to ≈ 1e-8); None when the sample holds fewer than 2 clusters, or as many clusters as rows (silhouette
    is undefined for both)."""
    x = np.asarray(components, dtype="float64")
    c = np.asarray(centroids, dtype="float64")
    if x.ndim != 2 or c.ndim != 2 or x.shape[1] != c.shape[1] or len(x) == 0 or len(c) == 0:
        raise ValueError(f"expected components (n, d) and centroids (k, d), got shapes {x.shape} and {c.shape}")
    return measure_blocks([x], len(x), [c])[0]


def silhouette_rows(rows: int) -> np.ndarray:
    """The row numbers of the silhouette's sample of `rows` rows, (min(rows, SILHOUETTE_SAMPLE),) int64, in sample
    order. Up to SILHOUETTE_EXACT_ROWS rows, the first SILHOUETTE_SAMPLE of a permutation seeded with SEED (the
    rows silhouette_score(…, sample_size=SILHOUETTE_SAMPLE, random_state=SEED) samples); above, SILHOUETTE_SAMPLE
    rows drawn without replacement by numpy's Generator seeded with SEED, whose memory does not grow with the rows
    (a permutation of 10 M rows is 80 MB)."""
    if rows <= SILHOUETTE_EXACT_ROWS:
        return np.random.RandomState(SEED).permutation(rows)[:SILHOUETTE_SAMPLE]
    return np.random.default_rng(SEED).choice(rows, SILHOUETTE_SAMPLE, replace=False).astype(np.int64)


class _Candidate:
    """One candidate's within_ss and sizes, summed over blocks of `step` rows however the rows come."""

    def __init__(self, centroids: np.ndarray, width: int) -> None:
        c = np.asarray(centroids, dtype="float64")
        if c.ndim != 2 or c.shape[1] != width or len(c) == 0:
            raise ValueError(
                f"expected components (n, d) and centroids (k, d), got d = {width} and centroids {c.shape}"
            )
        self.c = c
        self.step = max(1, _BLOCK_ELEMENTS // (len(c) * c.shape[1]))  # rows per block
        self.held: list[np.ndarray] = []
        self.held_rows = 0
        self.within_ss = 0.0
        self.sizes = np.zeros(len(c), dtype=np.int64)

    def add(self, rows: np.ndarray) -> None:
        self.held.append(rows)
        self.held_rows += len(rows)
        if self.held_rows >= self.step:
            joined = np.concatenate(self.held) if len(self.held) > 1 else self.held[0]
            whole = len(joined) - len(joined) % self.step
            for start in range(0, whole, self.step):
                self._block(joined[start : start + self.step])
            self.held = [joined[whole:]]
            self.held_rows = len(joined) - whole

    def finish(self) -> None:
        if self.held_rows:
            self._block(np.concatenate(self.held))
        self.held, self.held_rows = [], 0

    def _block(self, block: np.ndarray) -> None:
        squared = ((block[:, None, :] - self.c[None, :, :]) ** 2).sum(axis=2)  # (rows, k) exact, not |x|² − 2x·c + |c|²
        nearest = squared.argmin(axis=1)
        self.sizes += np.bincount(nearest, minlength=len(self.c))
        self.within_ss += float(squared[np.arange(len(block)), nearest].sum())

    def labels(self, x: np.ndarray) -> np.ndarray:
        return ((x[:, None, :] - self.c[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)


def measure_blocks(
    blocks: Iterable[np.ndarray], rows: int, centroids: Sequence[np.ndarray]
) -> list[tuple[float, float | None, list[int]]]:
    """`measure` for every candidate's centroids in one pass over the components, which come in blocks ((m, d)
    float, in row order, `rows` in all): holds a block and, per candidate, fewer than a measuring block's rows,
    and the silhouette's sample (SILHOUETTE_SAMPLE rows), whatever the rows. The same figures as `measure` on the
    rows at once."""
    if rows <= 0:
        raise ValueError(f"expected components (n, d) and centroids (k, d), got no rows and {len(centroids)} centroids")
    sample = silhouette_rows(rows)
    order = np.argsort(sample)
    wanted = sample[order]
    candidates: list[_Candidate] | None = None
    gathered: np.ndarray | None = None
    start = 0
    for block in blocks:
        x = np.asarray(block, dtype="float64")
        if candidates is None:
            candidates = [_Candidate(c, x.shape[1]) for c in centroids]
            gathered = np.empty((len(sample), x.shape[1]), dtype="float64")
        low, high = np.searchsorted(wanted, [start, start + len(x)])
        gathered[order[low:high]] = x[wanted[low:high] - start]
        for candidate in candidates:
            candidate.add(x)
        start += len(x)
    if start != rows or candidates is None or gathered is None:
        raise ValueError(f"expected {rows} rows of components, got {start}")
    measured = []
    for candidate in candidates:
        candidate.finish()
        silhouette = _silhouette(gathered, candidate.labels(gathered))
        measured.append((candidate.within_ss, silhouette, candidate.sizes.tolist()))
    return measured


def _silhouette(sample: np.ndarray, labels: np.ndarray) -> float | None:
    """sklearn's silhouette_score on the sample's rows (so that an undefined one is None)."""
    import sklearn
    from sklearn.metrics import silhouette_score

    clusters = len(np.unique(labels))
    if not 2 <= clusters <= len(sample) - 1:
        return None
    with sklearn.config_context(working_memory=SILHOUETTE_WORKING_MEMORY):
        return float(silhouette_score(sample, labels))


@dataclass(frozen=True)
class Selection:
    """The chosen k, the rule that chose it, and why (one sentence for the report and the log)."""

    k: int
    rule: str  # "silhouette" | "elbow" | "fixed"
    reason: str


def choose(metrics: list[CandidateMetrics], rule: str) -> Selection:
    """The k to deploy. One candidate: "fixed" (the *Number of segments* param). silhouette: the highest
    silhouette (ties: the smaller k; candidates without one are not eligible). elbow: the knee of the msd curve
    (SageMaker's test:msd when every candidate has it, else within_ss / rows for all) — the k farthest below the
    chord from the first to the last candidate after scaling both axes to [0, 1] (Kneedle); ties: the smaller k,
    so a curve without a knee (none below the chord) gives the smallest k. Deterministic: the same metrics give
    the same choice, in any order."""
    ordered = _ordered(metrics)
    if len(ordered) == 1:
        only = ordered[0]
        return Selection(
            only.k,
            "fixed",
            f"k = {only.k} was fixed by the Number of segments param (k); no other k was trained (set Smallest k "
            f"and Largest k in the trigger form to sweep)",
        )
    if rule == "silhouette":
        return _by_silhouette(ordered)
    if rule == "elbow":
        return _by_elbow(ordered)
    raise ValueError(f"k_rule = {rule!r} is not a rule: expected one of {', '.join(RULES)}")


def _ordered(metrics: list[CandidateMetrics]) -> list[CandidateMetrics]:
    if not metrics:
        raise ValueError("no candidate to choose k from: the sweep trained no K-Means job")
    ordered = sorted(metrics, key=lambda m: m.k)
    repeated = sorted({m.k for m in ordered if sum(o.k == m.k for o in ordered) > 1})
    if repeated:
        raise ValueError(f"k = {', '.join(map(str, repeated))} appears more than once among the candidates")
    return ordered


def _span(ordered: list[CandidateMetrics]) -> str:
    return f"the {len(ordered)} candidates k = {ordered[0].k}…{ordered[-1].k}"


def _by_silhouette(ordered: list[CandidateMetrics]) -> Selection:
    scored = [m for m in ordered if m.silhouette is not None and math.isfinite(m.silhouette)]
    if not scored:
        raise ValueError(f"no silhouette among {_span(ordered)}: every one has fewer than 2 non-empty clusters")
    best = max(scored, key=lambda m: (m.silhouette, -m.k))  # highest; of equal ones, the smaller k
    tied = [m.k for m in scored if m.silhouette == best.silhouette and m.k != best.k]
    return Selection(
        best.k,
        "silhouette",
        f"k = {best.k} has the highest silhouette of {_span(ordered)} ({best.silhouette:.3f}): its counties are, "
        f"on average, the most clearly closer to their own segment than to the next one"
        + (f" (k = {', '.join(map(str, tied))} tie with it; the smaller k is kept)" if tied else ""),
    )


def elbow_curve(ordered: list[CandidateMetrics]) -> tuple[np.ndarray, str]:
    """The msd curve the elbow rule reads, (candidates,) float64 in k order, and its source: SageMaker's
    test:msd when every candidate has it, else within_ss / rows (the artifact's) for every candidate, so that
    the curve never mixes the two."""
    if all(m.test_msd is not None and math.isfinite(m.test_msd) for m in ordered):
        return np.array([m.test_msd for m in ordered], dtype="float64"), MSD_FROM_SAGEMAKER
    return np.array([m.within_ss / max(sum(m.sizes), 1) for m in ordered], dtype="float64"), MSD_FROM_ARTIFACT


def knee_distances(ks: np.ndarray, msd: np.ndarray) -> np.ndarray:
    """Kneedle's difference curve: per candidate, how far its scaled msd lies below the chord from the first
    candidate to the last, both axes scaled to [0, 1] ((candidates,) float64, 0 at both ends; a flat curve is 0
    everywhere). ks: (candidates,) increasing."""
    x = (ks - ks[0]) / (ks[-1] - ks[0])
    spread = msd.max() - msd.min()
    y = (msd - msd.min()) / spread if spread > 0 else np.zeros_like(msd)
    chord = y[0] + (y[-1] - y[0]) * x
    return chord - y


def _by_elbow(ordered: list[CandidateMetrics]) -> Selection:
    if len(ordered) < ELBOW_MIN_CANDIDATES:
        raise ValueError(f"the elbow rule needs at least {ELBOW_MIN_CANDIDATES} candidates, got {_span(ordered)}")
    ks = np.array([m.k for m in ordered], dtype="float64")
    msd, source = elbow_curve(ordered)
    below = knee_distances(ks, msd)
    best = int(np.argmax(below))  # the first of equal maxima: the smaller k
    k = ordered[best].k
    curve = "SageMaker's test:msd" if source == MSD_FROM_SAGEMAKER else "within-cluster SS per county"
    if below[best] <= 0:
        return Selection(
            k,
            "elbow",
            f"the msd curve ({curve}) of {_span(ordered)} has no knee (no candidate lies below the straight line "
            f"from the first to the last), so the smallest, k = {k}, is kept",
        )
    return Selection(
        k,
        "elbow",
        f"k = {k} is the elbow of the mean squared distance to the nearest centroid ({curve}) over {_span(ordered)}: "
        f"it lies farthest below the straight line from k = {ordered[0].k} to k = {ordered[-1].k} "
        f"({below[best]:.2f} with both axes scaled to 0…1), where the curve bends from steep to flat",
    )


def by_rule(metrics: list[CandidateMetrics]) -> dict[str, int | None]:
    """The k each rule picks from the same candidates (None where a rule cannot pick: the elbow with fewer than
    ELBOW_MIN_CANDIDATES candidates, the silhouette with none defined), so that a run records what the rule it
    did not use would have chosen. Empty for one candidate (a fixed k)."""
    if len(metrics) < 2:
        return {}
    picks: dict[str, int | None] = {}
    for rule in RULES:
        try:
            picks[rule] = choose(metrics, rule).k
        except ValueError:
            picks[rule] = None
    return picks


def selection_document(metrics: list[CandidateMetrics], selection: Selection) -> dict:
    """k_selection.json: {"rule", "chosen_k", "reason", "by_rule", "silhouette_sample", "seed", "msd_source",
    "candidates":
    [{"k", "job_name", "test_msd", "test_ssd", "train_msd", "within_ss", "silhouette", "sizes", "chosen"}, …]}
    in k order. JSON-safe: a NaN or infinite metric is null.

    The silhouette's sample (`silhouette_rows`): "silhouette_sample" rows, the first of a permutation of the rows
    seeded with "seed" (scikit-learn's own sample) up to SILHOUETTE_EXACT_ROWS rows; above, where the candidates'
    sizes add up to more rows, "silhouette_sampling" says how they were drawn instead (a key only such runs have,
    so that every document up to that size is as it was)."""
    ordered = _ordered(metrics)
    if selection.k not in {m.k for m in ordered}:
        raise ValueError(f"chosen k = {selection.k} is not among {_span(ordered)}")
    return {
        "rule": selection.rule,
        "chosen_k": selection.k,
        "reason": selection.reason,
        "by_rule": by_rule(ordered),
        "silhouette_sample": SILHOUETTE_SAMPLE,
        "seed": SEED,
        "msd_source": elbow_curve(ordered)[1],
        **_sampling(sum(ordered[0].sizes)),
        "candidates": [
            {
                "k": m.k,
                "job_name": m.job_name,
                "test_msd": _finite(m.test_msd),
                "test_ssd": _finite(m.test_ssd),
                "train_msd": _finite(m.train_msd),
                "within_ss": _finite(m.within_ss),
                "silhouette": _finite(m.silhouette),
                "sizes": [int(size) for size in m.sizes],
                "chosen": m.k == selection.k,
            }
            for m in ordered
        ],
    }


def _sampling(rows: int) -> dict[str, str]:
    """k_selection.json's description of a sample not drawn as silhouette_score draws it (above
    SILHOUETTE_EXACT_ROWS rows); none otherwise."""
    if rows <= SILHOUETTE_EXACT_ROWS:
        return {}
    return {
        "silhouette_sampling": f"{SILHOUETTE_SAMPLE} of the {rows:,} rows drawn without replacement by "
        f"numpy.random.default_rng({SEED}).choice (above {SILHOUETTE_EXACT_ROWS:,} rows; up to that, the first "
        f"{SILHOUETTE_SAMPLE} of numpy.random.RandomState({SEED}).permutation(rows), as silhouette_score samples)"
    }


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None
