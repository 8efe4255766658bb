"""Evaluation entry point: ``python evaluate.py --config configs/lwl_ytvos.py --checkpoint CKPT ...``.

Not implemented yet: the tracker and dataset evaluation are the work of the inference issue. This script says so
instead of pretending to evaluate.
"""
import sys


def main():
    print("evaluate.py: the tracker and dataset evaluation are not implemented yet (see the inference issue)",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
