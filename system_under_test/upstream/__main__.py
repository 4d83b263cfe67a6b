"""`python -m system_under_test.upstream --host 127.0.0.1 --port P`: run the market-data upstream."""

from __future__ import annotations

import argparse
import ipaddress

import uvicorn

from .server import create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m system_under_test.upstream", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault injector's random draws")
    args = parser.parse_args(argv)
    try:
        loopback = ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = args.host == "localhost"
    if not loopback:
        parser.error(f"--host must be a loopback address, got {args.host!r}")
    uvicorn.run(
        create_app(args.seed),
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=1,
    )


if __name__ == "__main__":
    main()
