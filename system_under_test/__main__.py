"""`python -m system_under_test [--host 127.0.0.1] [--port 8000]`: run the service with uvicorn."""

from __future__ import annotations

import argparse

import uvicorn


def main() -> None:
    """Parse the bind address and serve the app factory (configuration comes from ATHBENCH_* variables)."""
    parser = argparse.ArgumentParser(prog="python -m system_under_test", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    args = parser.parse_args()
    uvicorn.run("system_under_test.app:create_app", factory=True, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
