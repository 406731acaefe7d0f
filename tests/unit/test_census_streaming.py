"""The streaming census's duplicate check: key hashes kept on disk, spread over files by their top bits, each
file sorted alone; a hash given twice, in one chunk or two, whichever file it falls in, is found."""

from __future__ import annotations

import numpy as np
import pytest

from include.segmentation.census.streaming import KEY_HASH_PARTITIONS, _key_hashes


def _distinct(count: int) -> np.ndarray:
    return np.unique(np.random.default_rng(3).integers(0, 2**64, size=count, dtype=np.uint64))


def test_distinct_key_hashes_are_no_repeat() -> None:
    hashes = _distinct(100_000)
    with _key_hashes() as kept:
        for chunk in np.array_split(hashes, 7):
            kept.add(chunk)
        assert not kept.any_repeated()


@pytest.mark.parametrize("top", [0, KEY_HASH_PARTITIONS // 2, KEY_HASH_PARTITIONS - 1])
def test_a_key_hash_given_in_two_chunks_is_a_repeat_whichever_file_it_falls_in(top) -> None:
    hashes = _distinct(10_000)
    repeated = np.uint64((top << (65 - KEY_HASH_PARTITIONS.bit_length())) | 12345)  # in file `top`
    with _key_hashes() as kept:
        kept.add(np.append(hashes[:5000], repeated))
        kept.add(np.append(hashes[5000:], repeated))
        assert kept.any_repeated()
