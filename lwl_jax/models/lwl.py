"""The assembled LWL network (``LWTLNet`` / ``LWTLBoxNet`` of the reference) and its training forward.

Parameter names mirror the reference's state_dict one to one (see ``lwl_jax.convert.mapping``):
``feature_extractor`` (F), ``target_model`` (target-feature projection and the learner's ρ), ``decoder`` (D),
``label_encoder`` (E and W) and, for the box network, ``box_label_encoder`` (B).

Images are NHWC BGR in 0..255 minus ``IMAGE_MEAN`` (std 1), as the reference expects; masks are (…, H, W).
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lwl_jax.models.backbone import LAYERS, ResNet
from lwl_jax.models.box_encoder import BoxEncoder, box_to_mask
from lwl_jax.models.decoder import Decoder
from lwl_jax.models.label_encoder import LabelEncoder
from lwl_jax.models.learner import apply_filter, steepest_descent
from lwl_jax.models.target_features import TargetFeatures
from lwl_jax.ops.boxes import masks_to_boxes

IMAGE_MEAN_BGR = np.array([102.9801, 115.9465, 122.7717], np.float32)


def normalize(rgb):
    """The one image normalisation: RGB pixel values (..., H, W, 3) (uint8 or float, 0–255) -> the network's input,
    BGR float32 minus the mean (std 1, the Mask R-CNN backbone's convention). NumPy in, NumPy out; a JAX array (or
    a traced one, inside ``jit``) in, JAX out."""
    xp = jnp if isinstance(rgb, jax.Array) else np
    return xp.asarray(rgb)[..., ::-1].astype(xp.float32) - IMAGE_MEAN_BGR


def denormalize(x):
    """The network's input -> RGB float pixel values (for pictures)."""
    return (x + IMAGE_MEAN_BGR)[..., ::-1]


class ResidualModule(nn.Module):
    """Holds ρ (``filter_reg``), the learner's only learned parameter (λ = ρ²)."""
    init_value: float = 0.01

    @nn.compact
    def __call__(self):
        return self.param("filter_reg", nn.initializers.constant(self.init_value), (1,), jnp.float32)


class FilterOptimizer(nn.Module):
    init_reg: float = 0.01

    @nn.compact
    def __call__(self):
        return ResidualModule(self.init_reg, name="residual_module")()


class TargetModel(nn.Module):
    """The target-feature projection x = P(layer3) and the learner's ρ (reference ``target_model``)."""
    feature_dim: int = 512
    filter_size: int = 3
    init_reg: float = 0.01
    dtype: Any = jnp.float32

    def setup(self):
        self.feature_extractor = TargetFeatures(self.feature_dim, self.filter_size, self.dtype)
        self.filter_optimizer = FilterOptimizer(self.init_reg)

    def features(self, layer3):
        return self.feature_extractor(layer3)

    def filter_reg(self):
        return self.filter_optimizer()


TARGET_STRIDES = (8, 16)                  # of the target features and labels (LWLNet.target_stride)


class LWLNet(nn.Module):
    """The LWL network. Defaults are the paper's final model (reference ``steepest_descent_resnet50``)."""
    backbone_blocks: Sequence[int] = (3, 4, 6, 3)
    backbone_width: int = 64
    stride_in_1x1: bool = True            # "mrcnn" ResNet; False = torchvision layout
    feature_dim: int = 512                # C
    num_filters: int = 16                 # D
    filter_size: int = 3
    label_encoder_dims: Sequence[int] = (16, 32, 64)
    decoder_mdim: int = 64
    optim_iter: int = 5                   # learner iterations on the training frame
    num_refinement_iter: int = 2
    apply_refinement: bool = False        # False: as the reference's released code; True: as paper §3.6
    init_filter_reg: float = 0.01
    box_encoder: bool = False             # True: LWTLBoxNet (adds B)
    box_dims: Sequence[int] = (64, 64)
    remat_backbone: bool = False
    remat_learner: bool = False
    remat_frames: bool = False            # training forward: test frames one at a time, recomputed in the backward
    dtype: Any = jnp.float32              # compute dtype of backbone, encoders and decoder (learner stays f32)
    learner_strategy: Optional[str] = None  # T and A over sequences: 'loop', 'vmap'; None: by backend (learner.py)
    target_stride: int = 16               # of the target features and labels; 8 for small inputs (layer3 keeps
                                          # layer2's resolution, E/W's last block does not downsample)

    def setup(self):
        if self.target_stride not in TARGET_STRIDES:
            raise ValueError(f"target_stride must be {' or '.join(map(str, TARGET_STRIDES))}, "
                             f"got {self.target_stride!r}")
        self.feature_extractor = ResNet(tuple(self.backbone_blocks), self.backbone_width, self.stride_in_1x1,
                                        LAYERS, self.remat_backbone, self.dtype,
                                        layer3_stride=2 if self.target_stride == 16 else 1)
        self.target_model = TargetModel(self.feature_dim, self.filter_size, self.init_filter_reg, self.dtype)
        self.decoder = Decoder(self.num_filters, self.decoder_mdim, ("layer4", "layer3", "layer2", "layer1"),
                               self.dtype)
        self.label_encoder = LabelEncoder(tuple(self.label_encoder_dims), self.num_filters, self.dtype,
                                          stride=self.target_stride)
        if self.box_encoder:
            self.box_label_encoder = BoxEncoder(tuple(self.box_dims), self.num_filters, self.dtype)

    # --- the pieces -----------------------------------------------------------------------------------------
    def backbone(self, images, layers=None):
        """F: images (..., H, W, 3) -> {layer1..layer4} (or ``layers``): (..., h_l, w_l, C_l)."""
        lead = images.shape[:-3]
        feats = self.feature_extractor(images.reshape((-1,) + images.shape[-3:]), layers)
        return {k: v.reshape(lead + v.shape[1:]) for k, v in feats.items()}

    def target_features(self, layer3):
        """x: layer3 (..., h, w, 1024) -> (..., h, w, 512)."""
        lead = layer3.shape[:-3]
        x = self.target_model.features(layer3.reshape((-1,) + layer3.shape[-3:]))
        return x.reshape(lead + x.shape[1:]).astype(jnp.float32)

    def encode_labels(self, masks):
        """(E(y), W(y)): masks (..., H, W) -> two (..., H/16, W/16, D) maps (float32)."""
        e, w = self.label_encoder(masks)
        return e.astype(jnp.float32), w.astype(jnp.float32)

    def filter_reg(self):
        return self.target_model.filter_reg()

    def learn(self, x, labels, weights, num_iter: int, tau=None, **kwargs):
        """A: τ after ``num_iter`` steps from ``tau`` (default τ⁰ = 0). x (N, S, h, w, C) -> (τ, losses)."""
        if tau is None:
            tau = jnp.zeros((x.shape[1], self.filter_size, self.filter_size, x.shape[-1], self.num_filters),
                            jnp.float32)
        kwargs.setdefault("remat", self.remat_learner)
        kwargs.setdefault("strategy", self.learner_strategy)
        return steepest_descent(tau, x, labels, weights, self.filter_reg(), num_iter, **kwargs)

    def apply_target_model(self, x, tau):
        """T_τ(x): x (N, S, h, w, C), τ (S, k, k, C, D) -> mask encoding (N, S, h, w, D)."""
        return apply_filter(x, tau, self.learner_strategy)

    def decode(self, encoding, features, image_size):
        """D: encoding (..., h16, w16, D), features {layer: (..., h, w, C)} -> (logits (..., H, W), stages)."""
        lead = encoding.shape[:-3]
        flat = {k: v.reshape((-1,) + v.shape[-3:]) for k, v in features.items() if k in LAYERS}
        logits, stages = self.decoder(encoding.reshape((-1,) + encoding.shape[-3:]), flat, tuple(image_size))
        return logits.reshape(lead + logits.shape[1:]), stages

    def encode_box(self, boxes, x, image_size):
        """B: boxes (N, 4) as (x, y, w, h), x (N, h, w, C) -> (box masks (N, H, W), encodings (N, h, w, D))."""
        masks = box_to_mask(boxes, tuple(image_size))
        return masks, self.box_label_encoder(masks, x).astype(jnp.float32)

    # --- training forward (paper §3.6) ---------------------------------------------------------------------
    def __call__(self, train_images, test_images, train_masks):
        """train_images (1, B, H, W, 3), test_images (T, B, H, W, 3), train_masks (1, B, H, W)
        -> mask logits (T, B, H, W).

        τ is learned on the train frame (``optim_iter`` steps from 0). With ``apply_refinement=False`` (the
        reference's behaviour, default) every test frame is predicted with that τ. With ``True`` (the paper's
        description) test frame i is predicted with τ refined on the train frame and the detached predictions of
        test frames < i (``num_refinement_iter`` steps after each test frame).
        """
        n_train, n_test = train_images.shape[0], test_images.shape[0]
        image_size = train_images.shape[-3:-1]
        if self.remat_frames:
            if self.apply_refinement:
                raise ValueError("remat_frames needs apply_refinement=False")
            x = self.target_features(self.backbone(train_images, ("layer3",))["layer3"])
            labels, weights = self.encode_labels(train_masks)
            tau, _ = self.learn(x, labels, weights, self.optim_iter)
            return self.test_frame_logits(tau, test_images, image_size)
        # the train frames only need layer3 (for x); running them apart from the test frames skips their layer4
        # and the slicing of every feature map (and its zero-padded gradient)
        test_feats = self.backbone(test_images)
        x = jnp.concatenate([self.target_features(self.backbone(train_images, ("layer3",))["layer3"]),
                             self.target_features(test_feats["layer3"])], axis=0)
        labels, weights = self.encode_labels(train_masks)
        tau, _ = self.learn(x[:n_train], labels, weights, self.optim_iter)
        if not self.apply_refinement:
            logits, _ = self.decode(self.apply_target_model(x[n_train:], tau), test_feats, image_size)
            return logits
        xs, ls, ws, out = [x[:n_train]], [labels], [weights], []
        for i in range(n_test):
            xi = x[n_train + i: n_train + i + 1]
            logits_i, _ = self.decode(self.apply_target_model(xi, tau), {k: v[i:i + 1] for k, v in test_feats.items()},
                                      image_size)
            out.append(logits_i)
            if i < n_test - 1:
                e, w = self.encode_labels(jax.nn.sigmoid(jax.lax.stop_gradient(logits_i)))
                xs.append(xi), ls.append(e), ws.append(w)
                tau, _ = self.learn(jnp.concatenate(xs), jnp.concatenate(ls), jnp.concatenate(ws),
                                    self.num_refinement_iter, tau)
        return jnp.concatenate(out, axis=0)

    def test_frame_logits(self, tau, test_images, image_size):
        """F, T_τ and D on each test frame alone, each frame checkpointed: the backward pass keeps only the images and
        τ and recomputes a frame's activations when it needs them. test_images (T, B, H, W, 3) -> (T, B, H, W)."""
        def frame(mdl, tau, image):
            feats = mdl.backbone(image[None])
            encoding = mdl.apply_target_model(mdl.target_features(feats["layer3"]), tau)
            return mdl.decode(encoding, feats, image_size)[0][0]

        # unrolled, not a scan: XLA:CPU runs the gradients of k×k convolutions inside a while loop 6–15× slower
        frame = nn.remat(frame)
        return jnp.stack([frame(self, tau, test_images[i]) for i in range(test_images.shape[0])])

    def box_forward(self, train_images, train_masks):
        """Box-init training forward (paper §3.7): the train masks' bounding boxes -> B -> D.
        train_images (1, B, H, W, 3), train_masks (1, B, H, W) -> mask logits (1, B, H, W)."""
        image_size = train_images.shape[-3:-1]
        feats = self.backbone(train_images)
        x = self.target_features(feats["layer3"])
        lead = x.shape[:-3]
        boxes = masks_to_boxes(train_masks.reshape((-1,) + train_masks.shape[-2:]))
        _, enc = self.encode_box(boxes, x.reshape((-1,) + x.shape[-3:]), image_size)
        logits, _ = self.decode(enc.reshape(lead + enc.shape[1:]), feats, image_size)
        return logits

    def init_all(self, images, masks):
        """Touches every submodule once (for ``init``): images (1, B, H, W, 3), masks (1, B, H, W)."""
        image_size = images.shape[-3:-1]
        feats = self.backbone(images[0])
        x = self.target_features(feats["layer3"])
        labels, _ = self.encode_labels(masks[0])
        self.filter_reg()
        encoding = labels
        if self.box_encoder:
            _, encoding = self.encode_box(jnp.zeros((x.shape[0], 4), jnp.float32), x, image_size)
        logits, _ = self.decode(encoding, feats, image_size)
        return logits


def variable_shapes(model: LWLNet, image_size=(64, 96)):
    """The variables' structure and shapes (``jax.ShapeDtypeStruct`` leaves), without computing anything."""
    h, w = image_size
    images = jnp.zeros((1, 1, h, w, 3), jnp.float32)
    masks = jnp.zeros((1, 1, h, w), jnp.float32)
    return jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), images, masks, method=LWLNet.init_all))


def init_variables(model: LWLNet, rng, image_size: tuple[int, int] = (64, 96), scheme: str = "reference") -> dict:
    """Fresh variables ({'params', 'batch_stats'}) with the reference's initialisation (``models.init``).
    ``rng``: an int seed or a JAX key."""
    from lwl_jax.models.init import reference_init

    seed = int(jax.random.randint(rng, (), 0, 2 ** 31 - 1)) if not isinstance(rng, int) else rng
    return reference_init(variable_shapes(model, image_size), seed, model.init_filter_reg, scheme)
