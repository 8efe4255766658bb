"""Model variants and pieces not covered by the fixtures: torchvision-layout backbone against a PyTorch
implementation, the small CPU variant, box rasterisation, parameter naming."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lwl_jax.convert.mapping import variables_to_state_dict
from lwl_jax.models.backbone import ResNet
from lwl_jax.models.box_encoder import box_to_mask
from lwl_jax.models.lwl import LWLNet, variable_shapes


def _torch_resnet(sd, x, blocks, stride_in_1x1):
    """A plain PyTorch ResNet forward (functional) used as the reference for both stride layouts."""
    def bn(t, p):
        return F.batch_norm(t, sd[p + ".running_mean"], sd[p + ".running_var"], sd[p + ".weight"],
                            sd[p + ".bias"], False, 0.0, 1e-5)

    t = F.relu(bn(F.conv2d(x, sd["conv1.weight"], stride=2, padding=3), "bn1"))
    t = F.max_pool2d(t, 3, 2, 1)
    outs = []
    for li, n in enumerate(blocks):
        for b in range(n):
            p = f"layer{li + 1}.{b}"
            s = (1 if li == 0 else 2) if b == 0 else 1
            s1, s3 = (s, 1) if stride_in_1x1 else (1, s)
            o = F.relu(bn(F.conv2d(t, sd[p + ".conv1.weight"], stride=s1), p + ".bn1"))
            o = F.relu(bn(F.conv2d(o, sd[p + ".conv2.weight"], stride=s3, padding=1), p + ".bn2"))
            o = bn(F.conv2d(o, sd[p + ".conv3.weight"]), p + ".bn3")
            sc = bn(F.conv2d(t, sd[p + ".downsample.0.weight"], stride=s), p + ".downsample.1") if b == 0 else t
            t = F.relu(o + sc)
        outs.append(t)
    return outs


@pytest.mark.parametrize("stride_in_1x1", [True, False])
def test_backbone_layouts_match_pytorch(stride_in_1x1):
    blocks = (2, 1, 2, 1)
    net = ResNet(blocks=blocks, base_width=8, stride_in_1x1=stride_in_1x1)
    x = np.random.default_rng(0).standard_normal((2, 45, 61, 3)).astype(np.float32) * 30
    variables = jax.jit(net.init)(jax.random.PRNGKey(0), x)
    # non-trivial BN statistics
    variables = jax.tree_util.tree_map(lambda a: a + 0.05 * jax.random.normal(jax.random.PRNGKey(3), a.shape),
                                       variables)
    sd = {k[len("feature_extractor."):]: torch.from_numpy(np.array(v))
          for k, v in variables_to_state_dict({c: {"feature_extractor": t} for c, t in variables.items()}).items()}
    ref = _torch_resnet(sd, torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), blocks, stride_in_1x1)
    ours = jax.jit(net.apply)(variables, x)
    for i, r in enumerate(ref):
        o = np.asarray(ours[f"layer{i + 1}"]).transpose(0, 3, 1, 2)
        np.testing.assert_allclose(o, r.numpy(), rtol=1e-4, atol=1e-4 * np.abs(r.numpy()).max())


def test_small_variant_shapes(small_model):
    model, variables = small_model
    img = jnp.zeros((1, 2, 80, 112, 3))
    feats = jax.jit(lambda v, i: model.apply(v, i, method=LWLNet.backbone))(variables, img)
    assert feats["layer3"].shape == (1, 2, 5, 7, 4 * 8 * 4)
    assert feats["layer4"].shape == (1, 2, 3, 4, 8 * 8 * 4)
    logits = jax.jit(model.apply)(variables, img, img, jnp.zeros((1, 2, 80, 112)))
    assert logits.shape == (1, 2, 80, 112)


def test_parameter_names_mirror_the_reference(fixtures):
    """Every key of the reference manifest (except BN counters) is a variable of the default model."""
    model = LWLNet(box_encoder=True)
    shapes = variable_shapes(model)
    ours = set(variables_to_state_dict(jax.tree_util.tree_map(lambda s: np.zeros(s.shape, s.dtype), shapes)))
    theirs = set(fixtures.state_dict("lwl_boxinit"))
    assert ours == theirs


def test_box_to_mask_truncates_and_clips():
    m = np.asarray(box_to_mask(jnp.array([[2.7, 1.2, 3.9, 2.99]]), (6, 8)))[0]
    expected = np.zeros((6, 8), np.float32)
    expected[1:1 + 2, 2:2 + 3] = 1
    np.testing.assert_array_equal(m, expected)
    big = np.asarray(box_to_mask(jnp.array([[-3.0, 4.0, 20.0, 10.0]]), (6, 8)))[0]
    assert big[4:, :].all() and not big[:4].any()


def test_bfloat16_compute_stays_close(small_model):
    model, variables = small_model
    img = jax.random.normal(jax.random.PRNGKey(0), (1, 1, 64, 96, 3)) * 40
    m = (jax.random.uniform(jax.random.PRNGKey(1), (1, 1, 64, 96)) > 0.5).astype(jnp.float32)
    a = jax.jit(model.apply)(variables, img, img, m)
    b = jax.jit(model.clone(dtype=jnp.bfloat16).apply)(variables, img, img, m)
    assert b.dtype == jnp.float32
    assert float(jnp.max(jnp.abs(a - b))) < 0.1 * float(jnp.max(jnp.abs(a))) + 0.1


def test_target_stride_8_keeps_layer3_and_the_labels_at_stride_8_with_the_same_parameters(small_model):
    model, variables = small_model
    fine = model.clone(target_stride=8, box_encoder=False)
    img = jnp.zeros((1, 2, 80, 112, 3))
    params = {k: v for k, v in variables["params"].items() if k != "box_label_encoder"}
    v = {"params": params, "batch_stats": variables["batch_stats"]}
    feats = jax.jit(lambda v, i: fine.apply(v, i, method=LWLNet.backbone))(v, img)
    assert feats["layer2"].shape[2:4] == feats["layer3"].shape[2:4] == (10, 14)
    assert feats["layer4"].shape[2:4] == (5, 7)
    e, w = fine.apply(v, jnp.zeros((1, 2, 80, 112)), method=LWLNet.encode_labels)
    assert e.shape[2:4] == w.shape[2:4] == (10, 14)
    assert jax.jit(fine.apply)(v, img, img, jnp.zeros((1, 2, 80, 112))).shape == (1, 2, 80, 112)
    with pytest.raises(ValueError, match="target_stride"):
        model.clone(target_stride=4).init(jax.random.PRNGKey(0), img, img, jnp.zeros((1, 2, 80, 112)))
