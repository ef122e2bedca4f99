"""make package, after the one cargo-lambda build: zips each function's bootstrap (executable,
as Lambda needs it), prints each zip's size and fails if one is over the budget.

Usage: package.py LAMBDA_DIR BUDGET_BYTES FUNCTION..."""

import os
import sys
import zipfile
from pathlib import Path


def main():
    lambda_dir, budget, functions = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    over = []
    for f in functions:
        binary = lambda_dir / f / "bootstrap"
        if not binary.exists():
            sys.exit(f"{binary}: not built")
        out = binary.with_suffix(".zip")
        tmp = out.with_suffix(".zip.tmp")
        info = zipfile.ZipInfo("bootstrap", date_time=(2026, 1, 1, 0, 0, 0))
        info.external_attr = 0o100755 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        with zipfile.ZipFile(tmp, "w") as z:
            z.writestr(info, binary.read_bytes(), compresslevel=9)
        os.replace(tmp, out)
        size = out.stat().st_size
        print(f"{size / 2**20:7.2f} MiB zip {binary.stat().st_size / 2**20:7.2f} MiB binary  {out}")
        if size > budget:
            over.append(f"{out} ({size} bytes)")
    if over:
        sys.exit(f"over the {budget}-byte budget: {', '.join(over)}")


if __name__ == "__main__":
    main()
