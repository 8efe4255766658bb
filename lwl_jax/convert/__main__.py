"""``python -m lwl_jax.convert IN.pth OUT_DIR [--check]``: a reference checkpoint -> an orbax checkpoint.

``--check`` prints the key mapping table (PyTorch key, Flax path, shape, transform) and writes nothing.
Errors are one line on stderr and exit status 2.
"""
from __future__ import annotations

import argparse
import sys

from lwl_jax.cli import entry_point


def _main(argv) -> int:
    p = argparse.ArgumentParser(prog="python -m lwl_jax.convert", description=__doc__.splitlines()[0])
    p.add_argument("input", help="PyTorch checkpoint (.pth / .pth.tar), no torch needed")
    p.add_argument("out_dir", nargs="?", help="folder for the orbax checkpoint (not needed with --check)")
    p.add_argument("--check", action="store_true", help="print the key mapping table, write nothing")
    args = p.parse_args(argv)
    if not args.check and not args.out_dir:
        p.error("OUT_DIR is required unless --check is given")
    from lwl_jax.convert.checkpoint import read_checkpoint, save_converted, to_variables
    from lwl_jax.convert.mapping import variable_table

    ckpt = read_checkpoint(args.input)
    model, variables = to_variables(ckpt)
    if args.check:
        rows = variable_table(variables)
        w = max(len(r[0]) for r in rows)
        print(f"{args.input}: {ckpt.kind}, {len(ckpt.state_dict)} state_dict entries, "
              f"{len(rows)} variables; model config {ckpt.model_config}")
        print(f"{'pytorch key':<{w}}  {'flax path':<60} {'shape':<20} transform")
        for key, path, shape, tr in rows:
            print(f"{key:<{w}}  {path:<60} {str(shape):<20} {tr}")
        return 0
    save_converted(args.out_dir, ckpt.kind, ckpt.model_config, variables,
                   extra={"source": args.input, "constructor": ckpt.constructor})
    print(f"wrote {args.out_dir} ({ckpt.kind}, {len(ckpt.state_dict)} tensors)")
    return 0


main = entry_point(_main)


if __name__ == "__main__":
    sys.exit(main())
