"""The sample builder a training config asks for (``cfg.data.kind``): 'synthetic' (built-in videos) or 'vos'
(YouTube-VOS 2019 train + DAVIS 2017 train, mixed by ``cfg.data.weights``), read from their on-disk folders
(``cfg.data.source='folders'``: ``youtubevos_root``, ``davis_root``) or from prepared TFDS datasets
(``source='tfds'``: ``tfds_dir``, ``tfds_datasets``; ``python -m lwl_jax.data.prepare_tfds``). COCO is always
read from ``coco_root``. The datasets are opened here, in the main process, so a wrong root fails before
anything is compiled."""
from __future__ import annotations

from lwl_jax.data.pipeline import SyntheticSampleBuilder, VOSSampleBuilder
from lwl_jax.data.processing import ProcessingConfig
from lwl_jax.errors import ConfigError


def processing_config(d, augment=True):
    """``data.center_jitter`` ((train c_x, c_y), (test c_x, c_y)) defaults to the reference's, which is meant for
    ``search_area_factor`` 5: with a smaller factor scale it down with it, or test targets leave their crops."""
    jitter = d.get("center_jitter", None) or ProcessingConfig.center_jitter
    return ProcessingConfig(output_size=(int(d.height), int(d.width)),
                            search_area_factor=float(d.get("search_area_factor", 5.0)), augment=augment,
                            center_jitter=tuple(tuple(float(c) for c in pair) for pair in jitter),
                            max_rotation=float(d.get("max_rotation", 15.0)),
                            max_log_scale=float(d.get("max_log_scale", 0.2)),
                            brightness=float(d.get("brightness", 0.2)))


def synthetic_video_config(d):
    """The generator settings of ``data.kind='synthetic'``: ``num_frames`` frames of ``height`` × ``width`` (whole
    frames are the samples), or with ``crop=True`` of ``video_height`` × ``video_width`` (the samples are
    ``height`` × ``width`` crops of them)."""
    from lwl_jax.data.synthetic import SyntheticConfig

    style = d.get("style")                # None: the original families; 'train': those not held out
    if d.get("crop", False):
        return SyntheticConfig(int(d.video_height), int(d.video_width), int(d.num_frames), style=style)
    return SyntheticConfig(int(d.height), int(d.width), int(d.num_frames), style=style)


def open_datasets(d, progress=True):
    """[(sequences, weight)] of the configured training datasets; a root of '' leaves that dataset out."""
    from lwl_jax.data.coco import coco_train
    from lwl_jax.data.vos_train import davis_train, youtubevos_train

    source = d.get("source", "folders")
    out = []
    if source == "tfds":
        out += open_tfds_datasets(d)
    elif source == "folders":
        if d.get("youtubevos_root"):
            out.append((youtubevos_train(d.youtubevos_root, d.get("youtubevos_split", "jjtrain")),
                        float(d.weights.get("youtubevos", 1.0))))
        if d.get("davis_root"):
            out.append((davis_train(d.davis_root, progress=progress), float(d.weights.get("davis", 1.0))))
    else:
        raise ConfigError(f"config data.source: {source!r}; expected 'folders' or 'tfds'")
    if d.get("coco_root"):
        out.append((coco_train(d.coco_root, d.get("coco_split", "train2017")), float(d.weights.get("coco", 1.0))))
    if not out:
        raise ConfigError("config data.kind='vos' needs at least one dataset: data.youtubevos_root, "
                          "data.davis_root, data.coco_root, or data.source='tfds' with data.tfds_datasets")
    return out


TFDS_NAMES = {"youtubevos": ("youtube_vos_2019", None), "davis": ("davis_2017", "480p")}


def open_tfds_datasets(d):
    """The ``data.tfds_datasets`` ('youtubevos': the ``youtubevos_split`` of ``youtube_vos_2019``; 'davis':
    ``train`` of ``davis_2017/480p``) prepared in ``data.tfds_dir``, as training sequences."""
    from lwl_jax.data.tfds.reader import Source, train_sequences

    out = []
    for key in d.get("tfds_datasets", ("youtubevos", "davis")):
        if key not in TFDS_NAMES:
            raise ConfigError(f"config data.tfds_datasets: unknown {key!r}; expected some of {sorted(TFDS_NAMES)}")
        name, config = TFDS_NAMES[key]
        split = d.get("youtubevos_split", "jjtrain") if key == "youtubevos" else "train"
        source = Source(name, split, d.get("tfds_dir", "~/tensorflow_datasets"), config)
        out.append((train_sequences(key, source), float(d.weights.get(key, 1.0))))
    return out


def sample_builder(cfg):
    d = cfg.data
    num_test = int(d.num_test_frames)
    if d.kind == "synthetic":
        crops = processing_config(d) if d.get("crop", False) else None
        return SyntheticSampleBuilder(int(d.seed), synthetic_video_config(d), crops, num_test,
                                      int(d.get("max_gap", 100)), int(d.get("reuse", 1)), int(cfg.batch_size))
    if d.kind == "vos":
        sets = open_datasets(d)
        return VOSSampleBuilder([s for s, _ in sets], [w for _, w in sets], processing_config(d), int(d.seed),
                                num_test, int(d.get("max_gap", 100)))
    raise ConfigError(f"unknown config data.kind {d.kind!r}; expected 'synthetic' or 'vos'")
