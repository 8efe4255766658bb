"""YouTube-VOS 2019 and DAVIS 2017 as tensorflow-datasets builders (array_record files, no TensorFlow), and
readers that feed them to training (grain) and evaluation.

* ``builders.py``: ``youtube_vos_2019`` and ``davis_2017`` (one example per video: the frames' JPEG bytes as
  they are on disk, the masks re-encoded as 8-bit grayscale PNGs holding the object ids, frame names, object ids,
  each object's first annotated frame and visibility, the original size).
* ``reader.py``: prepared datasets as the training readers' sequences and as the tracker's ``Video`` objects.
* ``python -m lwl_jax.data.prepare_tfds``: prepares them from the manually downloaded, extracted folders.
"""
