"""The tracker's device structure: a tracked frame is at most two device executions (memory/learner update, then
crop → backbone → T_τ → decoder → paste → merge) with no device→host transfer in between; only the label map and
each object's row/column probability sums come back; the device-built crop and paste maps equal the host ones.

Transfers are checked three ways: ``jax.transfer_guard("disallow")`` turns implicit host→device transfers into
errors, ``jax.device_get`` is recorded, and NumPy conversions through ``__array__`` outside it fail. (On the CPU
backend a zero-copy NumPy view of a device buffer through the buffer protocol is no transfer and is not seen.)"""
import glob
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax._src.array import ArrayImpl

from configs import lwl_ytvos
from lwl_jax.tracking import steps
from lwl_jax.tracking.geometry import paste_maps, paste_params, sample_location, sample_patch
from lwl_jax.tracking.tracker import LWLTracker, TrackerState

H, W = 72, 112


def _params():
    p = lwl_ytvos.get_config()
    p.image_sample_size = (64, 96)
    p.net_opt_iter = 3
    p.net_opt_update_iter = 2
    p.sample_memory_size = 4
    return p


def _video(n=6):
    rng = np.random.default_rng(5)
    base = (rng.random((H, W, 3)) * 255).astype(np.uint8)
    frames, labels = [], []
    for t in range(n):
        f = np.roll(base, 2 * t, axis=1).copy()
        lab = np.zeros((H, W), np.uint8)
        lab[10:30, 12 + t:40 + t] = 3
        lab[40:64, 60 - t:95 - t] = 7
        for i, c in ((3, (250, 30, 30)), (7, (30, 250, 60))):
            f[lab == i] = c
        frames.append(f)
        labels.append(lab)
    return frames, labels


def _executions(fn):
    """(result, number of compiled executions while ``fn`` ran), counted in a profiler trace."""
    with tempfile.TemporaryDirectory() as d:
        jax.profiler.start_trace(d)
        try:
            out = fn()
            jax.block_until_ready(jax.tree_util.tree_leaves(out))
        finally:
            jax.profiler.stop_trace()
        (path,) = glob.glob(d + "/**/*.xplane.pb", recursive=True)
        data = jax.profiler.ProfileData.from_file(path)
    n = sum(ev.name.startswith("CommonPjRtLoadedExecutable::ExecuteHelper")
            for plane in data.planes for line in plane.lines for ev in line.events)
    return out, n


def test_a_tracked_frame_is_one_update_and_one_track_execution_with_only_small_transfers(small_model,
                                                                                          monkeypatch):
    model, v = small_model
    frames, labels = _video()
    tracker = LWLTracker(model, v, _params())
    tracker.initialize(frames[0], {3: {"mask": labels[0] == 3}, 7: {"mask": labels[0] == 7}})
    fetched, explicit = [], [False]
    real_get, real_array = jax.device_get, ArrayImpl.__array__

    def recording_get(tree):
        fetched.append([np.shape(a) for a in jax.tree_util.tree_leaves(tree)])
        explicit[0] = True
        try:
            return real_get(tree)
        finally:
            explicit[0] = False

    monkeypatch.setattr(jax, "device_get", recording_get)

    def no_implicit_read(self, *a, **k):
        if not explicit[0]:
            raise AssertionError("a device array was read by NumPy code (implicit device-to-host transfer)")
        return real_array(self, *a, **k)
    for t in range(1, len(frames)):
        tracker.track(frames[t])           # compiles this frame's functions (memory prefixes 1, 2, 4)
    tracker2 = LWLTracker(model, v, _params())
    tracker2.initialize(frames[0], {3: {"mask": labels[0] == 3}, 7: {"mask": labels[0] == 7}})
    fetched.clear()
    for t in range(1, len(frames)):
        # implicit transfers (a NumPy array handed to the device, a device array read by NumPy code) are errors
        with jax.transfer_guard("disallow"), monkeypatch.context() as m:
            m.setattr(ArrayImpl, "__array__", no_implicit_read)
            out, n = _executions(lambda t=t: tracker2.track(frames[t]))
        # frame 1 has no memory update yet; from frame 2 on: the update, then the frame
        assert n == (1 if t == 1 else 2), (t, n)
        assert out.labels.dtype == np.uint8 and out.labels.shape == (H, W)
    # one fetch per frame: the label map and the (K, H), (K, W) probability sums
    assert fetched == [[(H, W), (2, H), (2, W)]] * (len(frames) - 1)


def test_tracker_state_is_one_pytree_and_late_objects_are_appended(small_model):
    model, v = small_model
    frames, labels = _video(4)
    tracker = LWLTracker(model, v, _params())
    tracker.initialize(frames[0], {3: {"mask": labels[0] == 3}})
    tracker.track(frames[1])
    out = tracker.track(frames[2], new_objects={7: {"mask": labels[2] == 7}})
    st = tracker.state
    assert isinstance(st, TrackerState)
    assert list(st.targets.ids) == [3, 7] and set(out.boxes) == {3, 7}
    for leaf in jax.tree_util.tree_leaves(st.targets):
        assert leaf.shape[0] == 2
    for name in st.device.__dataclass_fields__:
        a = getattr(st.device, name)
        assert a.shape[1 if name.startswith("mem_") else 0] == 2, name
    assert list(st.targets.frame_num) == [3, 1]
    out = tracker.track(frames[3])
    assert set(np.unique(out.labels)) <= {0, 3, 7}
    assert out.probs[7].shape == (H, W)


_axis_maps = jax.jit(steps.axis_maps, static_argnums=(1, 2, 3))
_paste_axis_maps = jax.jit(steps.paste_axis_maps, static_argnums=(1, 2))


@pytest.mark.parametrize("mode", ["replicate", "inside_major"])
def test_device_crop_and_paste_maps_equal_the_host_maps(mode):
    rng = np.random.default_rng(0)
    hw, out = (120, 214), (48, 80)
    worst = 0.0
    for _ in range(60):
        pos = np.array([rng.uniform(-20, 140), rng.uniform(-20, 230)], np.float32)
        sz = np.array([rng.uniform(3, 600), rng.uniform(3, 700)], np.float32)
        for is_mask in (False, True):
            c = sample_patch(hw, pos, sz, out, mode, is_mask)
            for ax, host in ((0, c.rows), (1, c.cols)):
                dev = np.asarray(_axis_maps(jnp.asarray(c.axes[ax][None]), out[ax], hw[ax], is_mask))[0]
                if is_mask:
                    np.testing.assert_array_equal(dev, host)
                worst = max(worst, float(np.abs(dev - host).max()))
        p, s = sample_location(c.coords, out)
        host = paste_maps(hw, p, s, out)
        pp = paste_params(p, s, out)
        for ax in range(2):
            m, covered = _paste_axis_maps(jnp.asarray(pp[ax][None]), out[ax], hw[ax])
            np.testing.assert_array_equal(np.asarray(covered)[0], host[2 + ax])
            worst = max(worst, float(np.abs(np.asarray(m)[0] - host[ax]).max()))
    assert worst < 2e-7     # float32 rounding of the interpolation weights
