"""Train LWL: ``python train.py --config configs/synthetic.py --workdir runs/synthetic [--config.key=value]``.

Resumes automatically from the latest checkpoint in ``--workdir`` (params, optimiser state, step; the data order
is a function of the step). Multi-host: ``--coordinator HOST:PORT --num_processes N --process_id I`` (or the
environment variables ``jax.distributed.initialize`` reads). Status: the synthetic configuration trains end to
end; the DAVIS / YouTube-VOS input pipeline of the reference's stages is not implemented yet.
"""
from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    overrides = [a for a in argv if a.startswith("--config.")]
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True)
    p.add_argument("--workdir", required=True)
    p.add_argument("--coordinator")
    p.add_argument("--num_processes", type=int)
    p.add_argument("--process_id", type=int)
    a = p.parse_args([x for x in argv if not x.startswith("--config.")])
    import jax

    if a.coordinator:
        jax.distributed.initialize(coordinator_address=a.coordinator, num_processes=a.num_processes,
                                   process_id=a.process_id)
    from lwl_jax.config_util import load_config
    from lwl_jax.training.trainer import train

    try:
        cfg = load_config(a.config, overrides)
    except (FileNotFoundError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if cfg.data.kind != "synthetic":
        print(f"error: {a.config}: data kind {cfg.data.kind!r} is not implemented yet (only 'synthetic')",
              file=sys.stderr)
        return 2
    state = train(cfg, a.workdir)
    print(f"finished at step {int(state.step)}; exported model in {a.workdir}/export")
    return 0


if __name__ == "__main__":
    sys.exit(main())
