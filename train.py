"""Train LWL: ``python train.py --config configs/synthetic.py --workdir runs/synthetic [--config.key=value]``.

Resumes automatically from the latest checkpoint in ``--workdir`` (parameters, optimiser state, step and the data
iterator). ``configs/long.py`` runs stage 1 then stage 2 in one workdir (``<workdir>/stage1``,
``<workdir>/stage2``). Multi-host: ``--coordinator HOST:PORT --num_processes N --process_id I`` on every host
(or, without flags, whatever ``jax.distributed.initialize`` reads from the cluster environment when
``--distributed`` is given). Bad data roots, unknown config keys and unreadable checkpoints end with one
``error:`` line and exit status 2.
"""
from __future__ import annotations

import argparse
import os
import sys

from lwl_jax.cli import run


def _main(argv) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    overrides = [a for a in argv if a.startswith("--config.")]
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True)
    p.add_argument("--workdir", required=True)
    p.add_argument("--coordinator", help="HOST:PORT of process 0 (multi-host training)")
    p.add_argument("--num_processes", type=int)
    p.add_argument("--process_id", type=int)
    p.add_argument("--distributed", action="store_true",
                   help="call jax.distributed.initialize() with the cluster environment's settings")
    p.add_argument("--no_progress", action="store_true")
    a = p.parse_args([x for x in argv if not x.startswith("--config.")])
    import jax

    if a.coordinator:
        jax.distributed.initialize(coordinator_address=a.coordinator, num_processes=a.num_processes,
                                   process_id=a.process_id)
    elif a.distributed:
        jax.distributed.initialize()
    from lwl_jax.config_util import load_config
    from lwl_jax.data.davis import DatasetError
    from lwl_jax.training.trainer import train

    def unfinished(state, stage_cfg, workdir):
        """A run stopped early (SIGTERM) has a checkpoint to resume from, and no export yet."""
        if int(state.step) >= int(stage_cfg.num_steps):
            return False
        if jax.process_index() == 0:
            print(f"stopped at step {int(state.step)} of {int(stage_cfg.num_steps)}; checkpoint saved in "
                  f"{workdir} (no export yet): run the same command to resume")
        return True

    cfg = load_config(a.config, overrides)
    if not cfg.get("cpu_async_dispatch", False):
        from lwl_jax.host_memory import run_steps_inline

        run_steps_inline()      # CPU: each step frees its temporaries before the next (lwl_jax/host_memory.py)
    stages = cfg.get("stages")
    if stages is None:
        state = train(cfg, a.workdir, progress=not a.no_progress)
        if unfinished(state, cfg, a.workdir):
            return 0
        export = os.path.join(a.workdir, "export")
    else:                       # several stages, each starting from the previous one's export
        previous = None
        for name in stages:
            stage_cfg = cfg[name]
            if previous is not None:
                stage_cfg.init_checkpoint = previous
            workdir = os.path.join(a.workdir, name)
            print(f"== {name} in {workdir}")
            try:
                state = train(stage_cfg, workdir, progress=not a.no_progress)
            except DatasetError as e:    # name the key as it is spelled in this config
                raise DatasetError(str(e).replace("config key ", f"config key {name}.")) from None
            if unfinished(state, stage_cfg, workdir):
                return 0
            previous = export = os.path.join(workdir, "export")
    if jax.process_index() == 0:
        print(f"finished at step {int(state.step)}; exported model in {export}")
    return 0


def main(argv=None) -> int:
    return run(_main, argv)


if __name__ == "__main__":
    from lwl_jax.host_memory import restart_with_malloc_settings

    restart_with_malloc_settings()      # tcmalloc (or glibc settings) for XLA:CPU (lwl_jax/host_memory.py)
    sys.exit(main())
