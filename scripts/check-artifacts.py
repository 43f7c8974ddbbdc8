"""After `sam build`: every function's bootstrap is what `make sam-build` means to
ship, or the build fails. Each is gzip'd under 5 MB (the size budget of the
deploy issue; docs/performance.md) and was built with the Makefile's
RELEASE_RUSTFLAGS (a `sam build` run by hand builds without them: bigger, and
`make sam-build` then rebuilds everything).

Each is also for the architecture the stack is deployed with (the template's
FunctionArchitecture): an x86_64 bootstrap on an arm64 function fails every
invocation with Runtime.InvalidEntrypoint.

Usage: python3 scripts/check-artifacts.py .aws-sam/build arm64|x86_64
"""

import gzip
import sys
from pathlib import Path

BUDGET = 5_000_000
ELF_TYPE_EXECUTABLE = 2  # e_type of a non-PIE executable (a PIE is 3, shared object)
ELF_MACHINE = {"arm64": 183, "x86_64": 62}  # e_machine: EM_AARCH64, EM_X86_64


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in ELF_MACHINE:
        sys.exit(__doc__)
    build = Path(sys.argv[1])
    architecture = sys.argv[2]
    bootstraps = sorted(build.glob("*/bootstrap"))
    if not bootstraps:
        sys.exit(f"no bootstrap under {build}: run `make sam-build`")
    problems = []
    largest = (0, "")
    for bootstrap in bootstraps:
        data = bootstrap.read_bytes()
        function = bootstrap.parent.name
        zipped = len(gzip.compress(data, 9))
        largest = max(largest, (zipped, function))
        if zipped >= BUDGET:
            problems.append(f"{function}: {zipped / 1e6:.2f} MB gzip'd, over the 5 MB budget")
        if data[:4] != b"\x7fELF" or int.from_bytes(data[16:18], "little") != ELF_TYPE_EXECUTABLE:
            problems.append(f"{function}: not built with RELEASE_RUSTFLAGS (run `make sam-build`, not `sam build`)")
        if int.from_bytes(data[18:20], "little") != ELF_MACHINE[architecture]:
            problems.append(f"{function}: not built for {architecture} (make sam-build ARCHITECTURE={architecture})")
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        sys.exit(1)
    print(f"{len(bootstraps)} {architecture} bootstraps, each under 5 MB gzip'd (largest: {largest[1]}, {largest[0] / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
