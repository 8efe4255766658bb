"""PyTorch-exact resizing against torch.nn.functional.interpolate (align_corners=False, no antialias)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lwl_jax.ops.resize import resize

SIZES = [((4, 6), (2, 3)), ((4, 6), (8, 12)), ((5, 7), (13, 3)), ((30, 52), (60, 104)), ((7, 9), (1, 1)),
         ((16, 24), (64, 96))]


@pytest.mark.parametrize("method", ["bilinear", "bicubic", "nearest"])
@pytest.mark.parametrize("src,dst", SIZES)
def test_size_mode_matches_torch(method, src, dst):
    x = np.random.default_rng(0).standard_normal((2, 3) + src).astype(np.float32)
    kw = {} if method == "nearest" else {"align_corners": False}
    ref = F.interpolate(torch.from_numpy(x), size=dst, mode=method, **kw).numpy()
    ours = np.asarray(resize(x.transpose(0, 2, 3, 1), dst, method)).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(ours, ref, atol=2e-6, rtol=0)


@pytest.mark.parametrize("scale", [0.7312, 1.37, 2.5])
def test_scale_factor_mode_matches_torch(scale):
    x = np.random.default_rng(1).standard_normal((1, 1, 37, 41)).astype(np.float32)
    ref = F.interpolate(torch.from_numpy(x), scale_factor=scale, mode="bilinear", align_corners=False).numpy()
    ours = np.asarray(resize(x[0, 0], None, "bilinear", scale_factor=scale, layout="HW"))
    assert ours.shape == ref.shape[2:]
    np.testing.assert_allclose(ours, ref[0, 0], atol=3e-5, rtol=0)


def test_differs_from_jax_image_resize():
    """The reason this module exists: jax.image.resize is not PyTorch's bicubic."""
    import jax

    x = np.random.default_rng(2).standard_normal((1, 8, 8, 1)).astype(np.float32)
    ours = np.asarray(resize(x, (16, 16), "bicubic"))
    theirs = np.asarray(jax.image.resize(x, (1, 16, 16, 1), "cubic"))
    assert np.abs(ours - theirs).max() > 1e-3


@pytest.mark.parametrize("method", ["bilinear", "bicubic"])
@pytest.mark.parametrize("src,dst", [((30, 52), (120, 208)), ((15, 26), (30, 52)), ((60, 104), (15, 26)),
                                     ((6, 10), (5, 10))])
def test_fast_paths_equal_the_interpolation_matrix(method, src, dst):
    """Integer factors take the shifted-slice path; it must equal the dense interpolation matrices."""
    from lwl_jax.ops.resize import resize_matrix

    x = np.random.default_rng(3).standard_normal((1,) + src + (5,)).astype(np.float32)
    dense = np.einsum("oh,nhwc->nowc", resize_matrix(src[0], dst[0], method), x)
    dense = np.einsum("pw,nowc->nopc", resize_matrix(src[1], dst[1], method), dense)
    np.testing.assert_allclose(np.asarray(resize(x, dst, method)), dense, atol=2e-6)
