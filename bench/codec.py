"""RecordIO-protobuf codec throughput on 1,000,000 × 34 float32 (the census width).

Run from the project root: `python bench/codec.py`. Prints the best of several runs; the first run
of each pays for fresh pages from the kernel, so it is reported separately.
"""

from __future__ import annotations

import time

import numpy as np

from include.sagemaker_formats.recordio import decode_features, encode_dense

ROWS, COLUMNS, RUNS = 1_000_000, 34, 5


def main() -> None:
    features = np.random.default_rng(0).random((ROWS, COLUMNS), dtype=np.float32)
    encode_times, decode_times = [], []
    for _ in range(RUNS):
        start = time.perf_counter()
        data = encode_dense(features)
        encode_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        decoded = decode_features(data)
        decode_times.append(time.perf_counter() - start)
        if not np.array_equal(decoded, features):
            raise SystemExit("round trip changed the values")
        size = len(data)
        del data, decoded
    print(f"RecordIO-protobuf codec, {ROWS:,} × {COLUMNS} float32, {size / 1e6:.1f} MB encoded, best of {RUNS}")
    for name, times in (("encode", encode_times), ("decode", decode_times)):
        best = min(times)
        print(
            f"  {name}: {ROWS / best / 1e6:6.2f} M rows/s  {size / best / 1e6:8.1f} MB/s"
            f"  (best {best * 1000:.0f} ms, first run {times[0] * 1000:.0f} ms)"
        )


if __name__ == "__main__":
    main()
