"""What a run's input was, in words a reader of its report can trust: the bundled synthetic sample is said to be
one, recognised by its sha256, so that its made-up segments are never mistaken for results on real data.

No pandas here: preprocess asks for every run, and the sample itself is made in `synthetic`.
"""

from __future__ import annotations

BUNDLED_SAMPLE = "bundled synthetic sample"
# sha256 of `synthetic.bundled_sample_csv()`, what `make run` and `make airflow` upload when no DATA is given;
# tests/unit/test_synthetic.py fails when the sample changes and this is not updated with it.
BUNDLED_SAMPLE_SHA256 = "5c932e0bf821de46f7e1cfda5b3945055ffb5f8e28608acc83b55f423afd7dfa"


def is_bundled_sample(sha256: str | None) -> bool:
    """Whether a file of this sha256 (hex) is the bundled synthetic sample."""
    return sha256 == BUNDLED_SAMPLE_SHA256


def describe(uri: str, sha256: str | None) -> str:
    """`uri`, and "(bundled synthetic sample: made-up counties, not census data)" when it is the sample."""
    if is_bundled_sample(sha256):
        return f"{uri} ({BUNDLED_SAMPLE}: made-up figures on real county names, not census data)"
    return uri
