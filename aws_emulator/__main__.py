"""`python -m aws_emulator --host 127.0.0.1 --port 4566 [--data-dir DIR] [--allow-host NAME]...
[--latency aws[:scale] [--latency-seed N]]` from the project root."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from threadpoolctl import threadpool_limits

from aws_emulator.connection import DEFAULT_REGION
from aws_emulator.sagemaker.latency import LatencyProfile
from aws_emulator.server import DEFAULT_ALLOWED_HOSTS, Emulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m aws_emulator",
        description="Local AWS for popseg: S3/IAM/STS/Logs through moto, SageMaker PCA and K-Means for real.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    parser.add_argument("--port", type=int, default=4566, help="port to bind; 0 picks a free one")
    parser.add_argument("--data-dir", help="keep S3 objects and SageMaker state here across restarts")
    parser.add_argument("--region", default=DEFAULT_REGION, help="region for unsigned requests")
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help=f"also accept requests whose Host is NAME (repeatable); always: {', '.join(DEFAULT_ALLOWED_HOSTS)}",
    )
    parser.add_argument(
        "--latency",
        metavar="aws[:SCALE]",
        help="jobs and endpoints pass through their states as long as on SageMaker, divided by SCALE "
        "(default 1; aws:60 makes a 6-minute deploy take 6 s); see aws_emulator/README.md",
    )
    parser.add_argument("--latency-seed", type=int, default=0, help="seed of the modelled durations (default 0)")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    try:
        latency = LatencyProfile.parse(args.latency, args.latency_seed) if args.latency else None
    except ValueError as exc:
        parser.error(f"--latency: {exc}")

    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # Requests are served on threads, several at once (concurrent InvokeEndpoint calls): BLAS threads of their
    # own on top only contend for the cores. A (30,000 x 34) @ (34 x 34) product ran 2x faster with one.
    threadpool_limits(limits=1, user_api="blas")
    emulator = Emulator(
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        region=args.region,
        allow_hosts=args.allow_host,
        latency=latency,
    ).start()
    print(f"popseg AWS emulator listening on {emulator.endpoint_url}", flush=True)
    if latency is not None:
        logging.getLogger("popseg.emulator").info(
            "AWS latency profile: SageMaker's times divided by %g (seed %d)", latency.scale, latency.seed
        )

    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    stopping.wait()
    emulator.stop()
    print("popseg AWS emulator stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
