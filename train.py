"""Training entry point: ``python train.py --config configs/long.py --workdir runs/long``.

Not implemented yet: the trainer (configs, input pipeline, data parallelism, checkpoints) is the work of the
training issue. The training objective itself exists and is parity-tested
(``lwl_jax.training.objective.loss_and_grads``). This script says so instead of pretending to train.
"""
import sys


def main():
    print("train.py: the trainer is not implemented yet (see the training issue); the parity-tested training "
          "objective is lwl_jax.training.objective.loss_and_grads", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
