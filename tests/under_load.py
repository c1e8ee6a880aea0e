"""Run the test suite while busy loops load every core: ``make test-loaded``.

Starts ``--busy`` processes (default 3) that spin until the run ends, and runs the
suite with ``MOUNTCOMM_TEST_TIMEOUT_FACTOR`` (default 3) in their company. Extra
arguments go to pytest. The exit status is pytest's. A test that fails here and not
on an idle machine has a race: fix the race, not the timeout.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

_SPIN = "while True: pass"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busy", type=int, default=3, help="busy-loop processes (3)")
    parser.add_argument("--factor", default="3", help="MOUNTCOMM_TEST_TIMEOUT_FACTOR (3)")
    args, pytest_args = parser.parse_known_args(argv)
    env = {**os.environ, "MOUNTCOMM_TEST_TIMEOUT_FACTOR": args.factor}
    spinners = [subprocess.Popen([sys.executable, "-c", _SPIN]) for _ in range(args.busy)]
    try:
        print(
            f"under load: {args.busy} busy loops, MOUNTCOMM_TEST_TIMEOUT_FACTOR={args.factor}",
            flush=True,
        )
        return subprocess.call([sys.executable, "-m", "pytest", *pytest_args], env=env)
    finally:
        for spinner in spinners:
            spinner.kill()
        for spinner in spinners:
            spinner.wait()


if __name__ == "__main__":
    sys.exit(main())
