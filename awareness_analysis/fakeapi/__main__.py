"""Serve the demo organisation on the local fake Mimecast API until Ctrl-C.

    python -m awareness_analysis.fakeapi [--port N] [--seed N] [--host H] [--latency S]

Prints the base URL and the environment variables an API 1.0 client needs to reach it.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from typing import TextIO

from awareness_analysis.fakeapi.server import FakeCredentials, FakeMimecastServer

DEFAULT_PORT = 8765


def _wait_for_interrupt() -> None:
    """Block until Ctrl-C (short sleeps so the interrupt is seen promptly on every platform)."""
    try:
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m awareness_analysis.fakeapi",
        description="Serve the synthetic demo organisation on a local fake Mimecast API.",
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 = any)"
    )
    parser.add_argument("--seed", type=int, default=None, help="demo organisation seed")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds to wait before each API answer"
    )
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    wait: Callable[[], None] = _wait_for_interrupt,
    out: TextIO | None = None,
) -> int:
    """Run the demo server; ``wait`` blocks while it serves (tests pass their own)."""
    args = _parser().parse_args(argv)
    out = out if out is not None else sys.stdout
    # Imported here so this module loads even where the demo builder is not available yet.
    from awareness_analysis.fakeapi.demo_org import build_demo_dataset

    dataset = build_demo_dataset() if args.seed is None else build_demo_dataset(args.seed)
    credentials = FakeCredentials.demo()
    try:
        server = FakeMimecastServer(
            dataset,
            credentials=credentials,
            host=args.host,
            port=args.port,
            latency_s=args.latency,
        ).start()
    except (OSError, ValueError) as exc:
        print(f"Cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    try:
        seed = "default seed" if args.seed is None else f"seed {args.seed}"
        print(f"Fake Mimecast API (demo organisation, {seed}) at {server.base_url}", file=out)
        print("Point an API 1.0 client at it with:", file=out)
        for name, value in server.environment().items():
            print(f"  export {name}={shlex.quote(value)}", file=out)
        print(
            f"API 2.0 (OAuth {server.base_url}/oauth/token): client_id="
            f"{credentials.client_id} client_secret={credentials.client_secret}",
            file=out,
        )
        print("These keys are fake and work only here. Press Ctrl-C to stop.", file=out, flush=True)
        wait()
    finally:
        server.stop()
    print("Stopped.", file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
