"""``python -m lwl_jax.parity FIXTURE_DIR [--json FILE] [--cases a,b]``: compare with the PyTorch reference.

Rebuilds the deterministic weights from the folder's manifests and ``fixtures_index.json``, feeds them through
the checkpoint-import path, runs every case of the folder, prints one row per compared tensor and exits non-zero
if a comparison fails or a case of the folder is not run. Runs in float32 with
``jax_default_matmul_precision="highest"``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m lwl_jax.parity", description=__doc__.splitlines()[0])
    p.add_argument("fixture_dir")
    p.add_argument("--json", help="write the rows as a JSON list to this file")
    p.add_argument("--cases", help="comma-separated subset of cases to run")
    args = p.parse_args(argv)

    import jax

    jax.config.update("jax_default_matmul_precision", "highest")
    jax.config.update("jax_enable_x64", False)
    from lwl_jax.parity.cases import CASES, TRACKER_CASES, Fixtures

    if not os.path.isfile(os.path.join(args.fixture_dir, "fixtures_index.json")):
        print(f"error: {args.fixture_dir}: no fixtures_index.json (not a fixture folder)", file=sys.stderr)
        return 2
    fx = Fixtures(args.fixture_dir)
    wanted = fx.cases()
    if args.cases:
        subset = args.cases.split(",")
        unknown = [c for c in subset if c not in wanted]
        if unknown:
            print(f"error: cases not in {args.fixture_dir}: {', '.join(unknown)}", file=sys.stderr)
            return 2
        wanted = subset
    out, failed, missing = [], 0, []
    print(f"{'case':<16} {'tensor':<66} {'error':>9} {'tolerance':>9}  result")
    for case in wanted:
        fn = CASES.get(case)
        if fn is None:
            out.append({"case": case, "status": "unsupported"})
            note = "not yet supported" if case in TRACKER_CASES else "NOT RUN"
            if case not in TRACKER_CASES:
                missing.append(case)
            print(f"{case:<16} {'-':<66} {'':>9} {'':>9}  {note}")
            continue
        t0 = time.time()
        for row in fn(fx):
            out.append(row.as_json())
            failed += not row.passed
            print(f"{row.case:<16} {row.tensor:<66} {row.error:9.2e} {row.tolerance:9.0e}  "
                  f"{'pass' if row.passed else 'FAIL'}", flush=True)
        print(f"{'':<16} ({time.time() - t0:.1f} s)", flush=True)
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(out, f, indent=1)
        os.replace(tmp, args.json)
    n = sum(1 for r in out if "passed" in r)
    print(f"{n - failed} passed, {failed} failed" + (f"; cases not run: {', '.join(missing)}" if missing else ""))
    return 1 if failed or missing else 0


if __name__ == "__main__":
    sys.exit(main())
