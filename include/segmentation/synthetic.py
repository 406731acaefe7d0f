"""A synthetic census with the real file's 37 columns and real structure, for demos and tests.

Counties are drawn from a handful of latent county types (rural, suburban, urban, …) of unequal
size; within a type, an affluence factor moves income, poverty and occupations together. Head
counts add up (Men + Women = TotalPop) and each percentage group sums to about 100, so that PCA
keeps most variance in a few components and K-Means finds unequal, meaningful segments.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from include.segmentation import us_map
from include.segmentation.census import COLUMNS

# Puerto Rico's 78 municipios, as in the ACS file (odd codes, and Florida's 054).
_PUERTO_RICO: tuple[str, ...] = tuple(sorted([f"72{c:03d}" for c in range(1, 154, 2)] + ["72054"]))
MAX_COUNTIES = 3142 + len(_PUERTO_RICO)  # us-atlas counties and Puerto Rico, as many rows as the real file

_NAME_ROOTS: tuple[str, ...] = (
    "Adams", "Baker", "Cedar", "Clark", "Clay", "Douglas", "Franklin", "Grant", "Greene", "Hamilton",
    "Jackson", "Jefferson", "Lake", "Lincoln", "Madison", "Marion", "Monroe", "Montgomery", "Pike",
    "Polk", "Union", "Warren", "Washington", "Wayne", "Willow", "Pine", "Río", "Mesa", "Harbor", "Prairie",
)  # fmt: skip


@dataclass(frozen=True)
class _CountyType:
    """Parameters of one latent county type. Shares are Dirichlet means (they sum to 1)."""

    name: str
    weight: float  # share of counties
    log10_pop: tuple[float, float]  # mean, sd of log10(TotalPop)
    race: tuple[float, ...]  # Hispanic, White, Black, Native, Asian, Pacific
    income: float  # median household income, dollars
    occupation: tuple[float, ...]  # Professional, Service, Office, Construction, Production
    commute: tuple[float, ...]  # Drive, Carpool, Transit, Walk, OtherTransp, WorkAtHome
    work: tuple[float, ...]  # PrivateWork, PublicWork, SelfEmployed, FamilyWork
    commute_minutes: float
    unemployment: float  # percent


_TYPES: tuple[_CountyType, ...] = (
    _CountyType("rural heartland", 0.34, (4.1, 0.35), (0.04, 0.92, 0.02, 0.01, 0.005, 0.005),
                47_000, (0.30, 0.17, 0.21, 0.14, 0.18), (0.80, 0.10, 0.003, 0.035, 0.012, 0.05),
                (0.74, 0.17, 0.085, 0.005), 22, 5.5),
    _CountyType("affluent suburb", 0.17, (5.0, 0.4), (0.08, 0.80, 0.05, 0.003, 0.06, 0.007),
                78_000, (0.45, 0.14, 0.24, 0.08, 0.09), (0.83, 0.08, 0.03, 0.015, 0.01, 0.035),
                (0.80, 0.13, 0.065, 0.005), 29, 4.5),
    _CountyType("urban core", 0.07, (5.8, 0.45), (0.20, 0.45, 0.20, 0.005, 0.14, 0.005),
                62_000, (0.42, 0.19, 0.24, 0.06, 0.09), (0.58, 0.09, 0.20, 0.07, 0.03, 0.03),
                (0.81, 0.13, 0.055, 0.005), 31, 7.0),
    _CountyType("black belt", 0.14, (4.3, 0.35), (0.03, 0.45, 0.50, 0.005, 0.01, 0.005),
                34_000, (0.26, 0.21, 0.22, 0.11, 0.20), (0.82, 0.12, 0.006, 0.02, 0.014, 0.02),
                (0.72, 0.21, 0.065, 0.005), 26, 11.0),
    _CountyType("hispanic borderland", 0.12, (4.4, 0.5), (0.72, 0.24, 0.01, 0.01, 0.01, 0.01),
                40_000, (0.24, 0.23, 0.23, 0.15, 0.15), (0.78, 0.13, 0.01, 0.03, 0.02, 0.03),
                (0.73, 0.18, 0.085, 0.005), 21, 8.5),
    _CountyType("mountain & recreation", 0.11, (4.0, 0.4), (0.10, 0.83, 0.01, 0.03, 0.02, 0.01),
                55_000, (0.34, 0.22, 0.20, 0.14, 0.10), (0.70, 0.10, 0.02, 0.06, 0.03, 0.09),
                (0.70, 0.17, 0.125, 0.005), 18, 5.0),
    _CountyType("native lands", 0.05, (3.9, 0.4), (0.05, 0.35, 0.01, 0.55, 0.01, 0.03),
                33_000, (0.29, 0.25, 0.20, 0.12, 0.14), (0.70, 0.15, 0.01, 0.06, 0.04, 0.04),
                (0.56, 0.37, 0.065, 0.005), 21, 14.0),
)  # fmt: skip

# Percentage groups in the order the type shares give them; each sums to about 100.
_RACE = ("Hispanic", "White", "Black", "Native", "Asian", "Pacific")
_OCCUPATION = ("Professional", "Service", "Office", "Construction", "Production")
_COMMUTE = ("Drive", "Carpool", "Transit", "Walk", "OtherTransp", "WorkAtHome")
_WORK = ("PrivateWork", "PublicWork", "SelfEmployed", "FamilyWork")

_CONCENTRATION = 60.0  # Dirichlet concentration: how closely a county follows its type's shares


def bundled_sample_csv() -> bytes:
    """The bundled sample: `synthetic_census()` as CSV bytes, what `make run` and `make airflow` upload when no
    DATA is given. Its sha256 is `inputs.BUNDLED_SAMPLE_SHA256`, so that its runs say they ran on it."""
    return synthetic_census().to_csv(index=False).encode()


def synthetic_census(n_counties: int = 3220, seed: int = 0, missing_rows: int = 2) -> pd.DataFrame:
    """A census frame with the real file's 37 columns (contract order), deterministic per `seed`.

    Counties are real ones: their CensusIds are distinct FIPS codes of us-atlas counties (in code
    order), then of Puerto Rico's municipios past its 3,142 counties (the map has no shape for those,
    as for the real file); State follows from the code, County names are made up. `missing_rows`
    rows get an empty income cell, as two real counties have, so cleaning has something to drop.
    Values pass `load_census` validation.
    """
    if not 1 <= n_counties <= MAX_COUNTIES:
        raise ValueError(f"n_counties must be between 1 and {MAX_COUNTIES} (the real file's count), got {n_counties}")
    return _synthetic(n_counties, seed, missing_rows)


def scaled_census(n_rows: int, seed: int = 0, missing_rows: int = 2) -> pd.DataFrame:
    """A census of any number of rows, for load tests: `synthetic_census` past the real file's count.

    Rows past MAX_COUNTIES reuse the real FIPS codes in turn (so CensusId and State repeat); County
    names carry a running number, so every State-County key stays unique and the file passes validation.
    """
    if n_rows < 1:
        raise ValueError(f"n_rows must be at least 1, got {n_rows}")
    return _synthetic(n_rows, seed, missing_rows)


def _synthetic(n_counties: int, seed: int, missing_rows: int) -> pd.DataFrame:
    if not 0 <= missing_rows <= n_counties:
        raise ValueError(f"missing_rows must be between 0 and {n_counties}, got {missing_rows}")
    rng = np.random.default_rng(seed)
    kind = _draw_types(rng, n_counties)
    affluence = rng.normal(0.0, 1.0, n_counties)  # within-type factor moving income, poverty, jobs

    def per_type(attribute: str) -> np.ndarray:
        return np.array([getattr(t, attribute) for t in _TYPES])[kind]

    def shares(attribute: str, tilt: np.ndarray | None = None) -> np.ndarray:
        mean = per_type(attribute)
        if tilt is not None:
            mean = mean * np.exp(np.outer(affluence, tilt))
            mean /= mean.sum(axis=1, keepdims=True)
        return _dirichlet_rows(rng, mean * _CONCENTRATION)

    log_pop = per_type("log10_pop")
    total_pop = np.round(10 ** rng.normal(log_pop[:, 0], log_pop[:, 1])).clip(80, 12_000_000)
    men = np.round(total_pop * rng.normal(0.495, 0.012, n_counties).clip(0.44, 0.56))
    women = total_pop - men

    race = shares("race")
    citizen = np.round(total_pop * (0.78 - 0.25 * race[:, 0] - 0.05 * rng.random(n_counties)))

    income = np.round(per_type("income") * np.exp(0.18 * affluence + rng.normal(0, 0.06, n_counties)), -1)
    income_err = np.round(income * (0.3 / np.sqrt(total_pop / 1000) + 0.02).clip(0.01, 0.25))
    income_per_cap = np.round(income * rng.normal(0.52, 0.04, n_counties).clip(0.35, 0.75))
    income_per_cap_err = np.round(income_per_cap * (0.25 / np.sqrt(total_pop / 1000) + 0.015).clip(0.01, 0.2))

    # Poverty falls with income (a logistic curve through the national pattern), plus county noise.
    poverty = 100 / (1 + np.exp((income - 30_000) / 11_000)) + rng.normal(0, 2.0, n_counties)
    poverty = poverty.clip(1.0, 65.0)
    child_poverty = (poverty * rng.normal(1.4, 0.1, n_counties)).clip(0.0, 90.0)

    occupation = shares("occupation", tilt=np.array([0.25, -0.1, 0.0, -0.1, -0.2]))
    commute = shares("commute")
    work = shares("work", tilt=np.array([0.05, -0.1, 0.0, 0.0]))
    employed = np.round(total_pop * (0.47 + 0.03 * affluence - 0.002 * poverty).clip(0.2, 0.62))
    commute_minutes = (per_type("commute_minutes") + 2.5 * rng.normal(size=n_counties)).clip(5, 45)
    unemployment = (per_type("unemployment") * np.exp(-0.25 * affluence) + rng.normal(0, 1, n_counties)).clip(0.0, 35.0)

    percent = lambda a: np.round(100 * a, 1)  # noqa: E731  # one decimal, as the ACS publishes
    frame = pd.DataFrame(
        {
            "TotalPop": total_pop,
            "Men": men,
            "Women": women,
            **dict(zip(_RACE, percent(race).T, strict=True)),
            "Citizen": citizen,
            "Income": income,
            "IncomeErr": income_err,
            "IncomePerCap": income_per_cap,
            "IncomePerCapErr": income_per_cap_err,
            "Poverty": np.round(poverty, 1),
            "ChildPoverty": np.round(child_poverty, 1),
            **dict(zip(_OCCUPATION, percent(occupation).T, strict=True)),
            **dict(zip(_COMMUTE, percent(commute).T, strict=True)),
            "MeanCommute": np.round(commute_minutes, 1),
            "Employed": employed,
            **dict(zip(_WORK, percent(work).T, strict=True)),
            "Unemployment": np.round(unemployment, 1),
        }
    )
    frame.insert(0, "County", _county_names(rng, n_counties))
    fips = _county_fips(rng, n_counties)
    names = us_map.load_atlas().state_names | {"72": "Puerto Rico"}
    frame.insert(0, "State", pd.Series(fips).str[:2].map(names).to_numpy())
    frame.insert(0, "CensusId", fips.astype(int))  # as the ACS file writes it: 1001, not 01001
    frame = frame.loc[:, list(COLUMNS)]
    if missing_rows:
        frame.loc[rng.choice(n_counties, missing_rows, replace=False), "Income"] = np.nan
    return frame


def county_types(n_counties: int = 3220, seed: int = 0) -> np.ndarray:
    """The latent type index of each synthetic county (n_counties,) int, to check segments against."""
    return _draw_types(np.random.default_rng(seed), n_counties)


def _draw_types(rng: np.random.Generator, n: int) -> np.ndarray:
    """The first draw from a county generator, so that `county_types` replays it."""
    weights = np.array([t.weight for t in _TYPES])
    return rng.choice(len(_TYPES), size=n, p=weights / weights.sum())


def _dirichlet_rows(rng: np.random.Generator, alpha: np.ndarray) -> np.ndarray:
    """One Dirichlet draw per row of `alpha` (n, m), vectorised through gamma variates."""
    draws = rng.gamma(alpha)
    return draws / draws.sum(axis=1, keepdims=True)


def _county_fips(rng: np.random.Generator, n: int) -> np.ndarray:
    """`n` 5-digit FIPS codes (str): up to MAX_COUNTIES distinct and sorted, drawn from the atlas counties,
    then Puerto Rico's; past that, the whole list again in turn."""
    atlas = np.array(sorted(us_map.load_atlas().county_names))
    if n <= len(atlas):
        return np.sort(rng.choice(atlas, n, replace=False))
    every = np.concatenate([atlas, np.array(_PUERTO_RICO)])
    return np.resize(every, n)


def _county_names(rng: np.random.Generator, n: int) -> np.ndarray:
    """Unique names: a root and a running number, e.g. 'Cedar 12'."""
    roots = np.array(_NAME_ROOTS)[rng.integers(0, len(_NAME_ROOTS), n)]
    return np.char.add(np.char.add(roots, " "), (np.arange(n) + 1).astype(str))
