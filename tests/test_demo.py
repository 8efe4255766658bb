"""The browser demo (``python -m lwl_jax.demo``), driven in a real headless Chromium through Playwright: paint a
mask (shipped model) or draw a box (box-init checkpoint) on a built-in clip, press Track, download the masks zip and
check it equals ``python -m lwl_jax.segment`` on the same clip and first-frame input, PNG for PNG. Screenshots
before and after tracking go to ``test-output/demo/`` (not committed). Needs Debian's ``chromium`` (``.ci/run``
installs it) and the ``test`` extra (gradio, playwright)."""
import io
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest
from PIL import Image

from lwl_jax.data.davis import read_index_png
from lwl_jax.data.synthetic import generate
from lwl_jax.demo import (
    BUILTIN_CLIPS,
    BUILTIN_CONFIG,
    BUILTIN_MODEL,
    CLIP_CONFIG,
    CLIP_SEED,
    DemoError,
    builtin_clip,
    first_frame_objects,
    load_clip,
)
from tests.helpers.evaluation import SMALL
from tests.helpers.xla import subprocess_env

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHOTS = os.path.join(REPO, "test-output", "demo")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CLIP = list(BUILTIN_CLIPS)[1]          # the clip the tests choose (the page opens on the first)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(args):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "lwl_jax.demo", "--port", str(port)] + args, cwd=REPO,
                            env=subprocess_env(JAX_PLATFORMS="cpu"), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError("demo server exited:\n" + proc.stdout.read())
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise AssertionError("demo server did not start within 180 s")


def _choose_clip(page):
    """Choose ``CLIP`` in the clip menu and wait until the editor shows its first frame: Gradio marks the editor
    "processing" while the server sends the frame, and a stroke painted before that lands on the old canvas (a
    fixed 1.5 s wait was too short with the other test worker busy)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.locator("#clip input").click()
    page.get_by_role("option", name=CLIP).click()
    busy = "document.querySelector('#editor').innerText.includes('processing')"
    try:
        page.wait_for_function(busy, timeout=10_000)
    except PlaywrightTimeout:       # done before we looked
        pass
    page.wait_for_function(f"!({busy})", timeout=180_000)
    page.wait_for_timeout(500)


def _stroke(page, points):
    """Drag the brush through image pixel coordinates ``points`` ((x, y)) on the editor's canvas."""
    box = page.locator("#editor canvas").first.bounding_box()
    zoom = float(re.search(r"(\d+)%", page.locator("#editor").inner_text()).group(1)) / 100
    h, w = CLIP_CONFIG.height, CLIP_CONFIG.width
    x0 = box["x"] + (box["width"] - w * zoom) / 2
    y0 = box["y"] + (box["height"] - h * zoom) / 2
    xy = [(x0 + (x + 0.5) * zoom, y0 + (y + 0.5) * zoom) for x, y in points]
    page.mouse.move(*xy[0])
    page.mouse.down()
    for p in xy[1:]:
        page.mouse.move(*p, steps=4)
    page.mouse.up()


def _track_and_download(page, name):
    page.screenshot(path=os.path.join(SHOTS, f"{name}_before.png"), full_page=True)
    page.click("#track")
    page.wait_for_selector("#downloads a", timeout=240_000)
    page.wait_for_timeout(500)
    page.screenshot(path=os.path.join(SHOTS, f"{name}_after.png"), full_page=True)
    link = page.locator('#downloads a[href$="masks.zip"]')
    with page.expect_download() as d:
        link.click()
    return zipfile.ZipFile(io.BytesIO(open(d.value.path(), "rb").read()))


def _segment(tmp_path, extra):
    """``python -m lwl_jax.segment`` on the built-in clip ``CLIP`` written as PNG frames; {name: PNG bytes} of its
    masks."""
    frames = builtin_clip(CLIP)
    fdir = tmp_path / "frames"
    fdir.mkdir()
    for i, f in enumerate(frames):
        Image.fromarray(f).save(fdir / f"{i:05d}.png")
    out = tmp_path / "segment"
    res = subprocess.run([sys.executable, "-m", "lwl_jax.segment", "--frames", str(fdir), "--out", str(out)]
                         + extra, cwd=REPO, env=subprocess_env(JAX_PLATFORMS="cpu"), capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return {f"masks/{n}": (out / "masks" / n).read_bytes() for n in sorted(os.listdir(out / "masks"))}


def _zip_masks(z):
    return {n: z.read(n) for n in sorted(z.namelist()) if n.startswith("masks/")}


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.fail("the demo tests need Chromium: apt-get install chromium (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    os.makedirs(SHOTS, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.mark.slow
def test_paint_a_mask_track_and_download_equals_segment(browser, tmp_path):
    proc, url = _serve([])
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 1400}, accept_downloads=True)
        page.goto(url, wait_until="networkidle")
        page.wait_for_selector("#editor canvas")
        # pressing Track with nothing painted is a message in the page, not a traceback
        page.click("#track")
        page.get_by_text("no object painted").first.wait_for(timeout=60_000)
        page.reload(wait_until="networkidle")
        page.wait_for_selector("#editor canvas")
        _choose_clip(page)          # the built-in clip the test uses (the page opens on another one)
        # paint a short stroke inside the largest object of the clip's first frame, at its pixel nearest the mean
        labels = generate(BUILTIN_CLIPS[CLIP], CLIP_SEED, CLIP_CONFIG)[1][0]
        big = np.bincount(labels.ravel())[1:].argmax() + 1
        ys, xs = np.nonzero(labels == big)
        i = np.argmin((xs - xs.mean()) ** 2 + (ys - ys.mean()) ** 2)
        cx, cy = int(xs[i]), int(ys[i])
        _stroke(page, [(cx - 2, cy), (cx + 2, cy)])
        z = _track_and_download(page, "mask")
        # the learned-encodings picture of the same clip and mask, one click away
        page.get_by_text("What the network learned").click()
        page.click("#encodings")
        page.wait_for_selector("#encodings_image img", timeout=120_000)
        page.screenshot(path=os.path.join(SHOTS, "encodings.png"), full_page=True)
        page.close()
    finally:
        proc.kill()
    first = read_index_png(io.BytesIO(z.read("first_frame_mask.png")))
    assert first[cy, cx] == 1 and set(np.unique(first)) == {0, 1}
    assert (labels[first == 1] == big).mean() > 0.5        # most of the paint is on the object
    (tmp_path / "first.png").write_bytes(z.read("first_frame_mask.png"))
    masks = _zip_masks(z)
    assert len(masks) == CLIP_CONFIG.num_frames
    assert masks == _segment(tmp_path, ["--mask", str(tmp_path / "first.png"), "--checkpoint", BUILTIN_MODEL]
                             + ["--config", BUILTIN_CONFIG])


@pytest.mark.slow
def test_draw_a_box_track_and_download_equals_segment(browser, tmp_path, checkpoint):
    proc, url = _serve(["--checkpoint", checkpoint[0]] + SMALL)
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 1400}, accept_downloads=True)
        page.goto(url, wait_until="networkidle")
        page.wait_for_selector("#editor canvas")
        _choose_clip(page)
        page.get_by_label("boxes").check()
        _stroke(page, [(40, 20), (80, 50)])
        z = _track_and_download(page, "box")
        page.close()
    finally:
        proc.kill()
    first = read_index_png(io.BytesIO(z.read("first_frame_mask.png")))
    ys, xs = np.nonzero(first == 1)
    box = f"{xs.min()},{ys.min()},{xs.max() - xs.min() + 1},{ys.max() - ys.min() + 1}"
    # the stroke's extent (plus the brush radius) is the box
    assert xs.min() <= 40 and xs.max() >= 80 and ys.min() <= 20 and ys.max() >= 50, box
    assert xs.max() - xs.min() < 70 and ys.max() - ys.min() < 60, box
    masks = _zip_masks(z)
    assert masks == _segment(tmp_path, ["--box", box, "--checkpoint", checkpoint[0]] + SMALL)


def test_bad_input_gives_messages(tmp_path, checkpoint):
    shape = (CLIP_CONFIG.height, CLIP_CONFIG.width)
    with pytest.raises(DemoError, match="no object painted"):
        first_frame_objects("mask", {"layers": []}, None, shape, box_model=False)
    with pytest.raises(DemoError, match="no box encoder"):
        first_frame_objects("boxes", {"layers": []}, None, shape, box_model=False)
    wrong = np.zeros((10, 10, 4), np.uint8)
    with pytest.raises(DemoError, match=f"painted mask is 10x10 but the frame is {shape[1]}x{shape[0]}"):
        first_frame_objects("mask", {"layers": [wrong]}, None, shape, box_model=False)
    png = tmp_path / "small.png"
    Image.fromarray(np.ones((8, 8), np.uint8), "P").save(png)
    size = f"{shape[1]}x{shape[0]}"
    with pytest.raises(DemoError, match=f"small.png: mask size 8x8 does not match the frame size {size}"):
        first_frame_objects("mask", None, str(png), shape, box_model=False)
    with pytest.raises(DemoError, match="24 frames; this demo tracks at most 10"):
        load_clip(list(BUILTIN_CLIPS)[0], None, 10)
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(DemoError, match="cannot be decoded"):
        load_clip(None, str(bad), 300)


def _small_tracking(preset, path):
    """(tracker params, model, variables, the first 3 frames of the clip CLIP, a one-rectangle label map)."""
    from lwl_jax.config_util import load_config
    from lwl_jax.tracking.video import load_tracking_model

    params = load_config(preset, SMALL)
    model, variables = load_tracking_model(path, params)
    frames = builtin_clip(CLIP)[:3]
    labels = np.zeros(frames.shape[1:3], np.uint8)
    labels[20:50, 30:80] = 1
    return params, model, variables, frames, labels


def test_each_request_tracks_into_its_own_folder(tmp_path, checkpoint):
    """Two requests (e.g. two browser tabs) at once never share an output folder or a zip."""
    from lwl_jax.demo import track

    params, model, variables, frames, labels = _small_tracking("lwl_ytvos", checkpoint[1])
    objects = {1: {"mask": labels == 1}}
    a = track(model, variables, params, frames, objects, labels, str(tmp_path))
    labels2 = np.where(labels == 1, 2, 0).astype(np.uint8)
    b = track(model, variables, params, frames, {2: {"mask": labels2 == 2}}, labels2, str(tmp_path))
    assert a["folder"] != b["folder"] and a["zip"] != b["zip"]
    za, zb = zipfile.ZipFile(a["zip"]), zipfile.ZipFile(b["zip"])
    assert read_index_png(io.BytesIO(za.read("masks/00000.png"))).max() == 1
    assert read_index_png(io.BytesIO(zb.read("masks/00000.png"))).max() == 2


def test_a_box_init_checkpoint_also_starts_from_a_painted_mask(tmp_path, checkpoint):
    """Mask mode on a box-init network: the tracker starts from the mask (its label encoder), not from boxes."""
    from lwl_jax.demo import mode_params, track

    params, model, variables, frames, labels = _small_tracking("lwl_boxinit", checkpoint[0])
    out = track(model, variables, mode_params(params, "mask"), frames, {1: {"mask": labels == 1}}, labels,
                str(tmp_path))
    assert len([n for n in zipfile.ZipFile(out["zip"]).namelist() if n.startswith("masks/")]) == 3
    assert mode_params(params, "boxes").init_with_box and not mode_params(params, "mask").init_with_box
