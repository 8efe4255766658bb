"""Prepare YouTube-VOS 2019 or DAVIS 2017 as a tensorflow-datasets dataset (array_record files; no TensorFlow).

    python -m lwl_jax.data.prepare_tfds youtube_vos_2019 --manual_dir data/youtubevos --data_dir ~/tensorflow_datasets
    python -m lwl_jax.data.prepare_tfds davis_2017 --manual_dir data/DAVIS --data_dir ~/tensorflow_datasets
    python -m lwl_jax.data.prepare_tfds davis_2017 --config full_resolution --manual_dir data/DAVIS ...

``--manual_dir`` is the folder holding the extracted official archives (see each builder's instructions in
``lwl_jax/data/tfds/builders.py``). Preparing a dataset that is already prepared does nothing; an interrupted
preparation leaves only a ``*.incomplete*`` folder, which readers never open and the next run replaces.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from lwl_jax.cli import entry_point


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("name", choices=("youtube_vos_2019", "davis_2017"))
    p.add_argument("--manual_dir", required=True, help="the extracted archives")
    p.add_argument("--data_dir", default="~/tensorflow_datasets", help="where TFDS datasets live")
    p.add_argument("--config", help="davis_2017: 480p (default) or full_resolution")
    return p


def prepare(name, manual_dir, data_dir, config=None):
    """Prepare (or find prepared) ``name``; returns the builder."""
    import logging

    import tensorflow_datasets as tfds

    from lwl_jax.data.tfds.builders import BUILDERS
    from lwl_jax.errors import DatasetError

    manual_dir, data_dir = os.path.expanduser(manual_dir), os.path.expanduser(data_dir)
    if not os.path.isdir(manual_dir):
        raise DatasetError(f"{manual_dir}: manual folder not found (it must hold the extracted {name} archives)")
    if name == "davis_2017":
        config = config or "480p"
    elif config:
        raise DatasetError(f"{name} has no configs (got --config {config})")
    logging.getLogger("absl").setLevel(logging.WARNING)
    builder = BUILDERS[name](data_dir=data_dir, config=config, file_format="array_record")
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
    return builder


def _main(argv) -> int:
    args = build_parser().parse_args(argv)
    t0 = time.perf_counter()
    builder = prepare(args.name, args.manual_dir, args.data_dir, args.config)
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(builder.data_dir) for f in fs)
    for split, info in sorted(builder.info.splits.items()):
        skipped = builder.info.metadata[split]["skipped"]
        print(f"{split}: {info.num_examples} videos" + (f", {len(skipped)} skipped:" if skipped else ""))
        for s in skipped:
            print(f"  skipped {s}")
    print(f"{builder.data_dir}: {size / 2**20:.1f} MiB, {time.perf_counter() - t0:.1f} s")
    return 0


main = entry_point(_main)


if __name__ == "__main__":
    sys.exit(main())
