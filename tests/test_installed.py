"""The package works installed, not just checked out: a wheel built from a copy of the sources in a temp dir,
installed (not editable) into a fresh venv, and the command-line tools run from an empty directory outside the
checkout on small generated inputs. The venv sees this environment's packages (``--system-site-packages``: no
download), but ``lwl_jax`` itself must come from the venv's wheel."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from lwl_jax.convert.mapping import variables_to_state_dict
from lwl_jax.data.davis import read_index_png, write_index_png
from tests.helpers.evaluation import REPO, SMALL
from tests.helpers.torch_files import write_torch_file
from tests.helpers.vos_files import make_davis


def _copy_sources(dst):
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                           text=True, check=True).stdout.split()
    for f in files:
        if f.startswith(("tests/", ".ci/", "benchmarks/")) or not os.path.isfile(os.path.join(REPO, f)):
            continue
        os.makedirs(os.path.join(dst, os.path.dirname(f)), exist_ok=True)
        shutil.copy2(os.path.join(REPO, f), os.path.join(dst, f))


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_runs_the_tools_outside_the_checkout(tmp_path, small_model, checkpoint):
    src, wheels, venv, work = (tmp_path / n for n in ("src", "wheels", "venv", "work"))
    _copy_sources(src)
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    py = str(venv / "bin" / "python")
    run = dict(capture_output=True, text=True, check=False)
    # the wheel is built by this environment's setuptools (the venv's own may predate built-in bdist_wheel); with
    # a setuptools too old for that, pip's isolated build fetches a current one from the package index
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(src)]
    res = subprocess.run(build[:5] + ["--no-build-isolation"] + build[5:], **run)
    if res.returncode and "bdist_wheel" in res.stderr:
        res = subprocess.run(build, **run)
    assert res.returncode == 0, res.stderr[-2000:]
    (wheel,) = os.listdir(wheels)
    res = subprocess.run([py, "-m", "pip", "install", "--no-deps", "--no-index", str(wheels / wheel)], **run)
    assert res.returncode == 0, res.stderr[-2000:]
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    def tool(*args):
        r = subprocess.run([py, *map(str, args)], cwd=work, env=env, **run)
        assert r.returncode == 0, (args, r.stderr[-3000:])
        return r.stdout

    where = tool("-c", "import lwl_jax, os; print(os.path.realpath(lwl_jax.__file__))").strip()
    assert where.startswith(os.path.realpath(venv)), where            # the wheel's copy, not the checkout
    # inputs: a clip with a first-frame mask, a reference-format .pth, a DAVIS folder
    rng = np.random.default_rng(0)
    frames = work / "frames"
    frames.mkdir()
    for i in range(4):
        Image.fromarray((rng.random((64, 96, 3)) * 255).astype(np.uint8)).save(frames / f"{i:05d}.jpg")
    mask = np.zeros((64, 96), np.uint8)
    mask[10:40, 20:60] = 1
    write_index_png(work / "first.png", mask)
    # segment with the default tracker preset (it must ship in the package)
    tool("-m", "lwl_jax.segment", "--frames", frames, "--mask", work / "first.png", "--checkpoint", checkpoint[1],
         "--out", work / "seg", *SMALL)
    assert sorted(os.listdir(work / "seg" / "masks")) == [f"{i:05d}.png" for i in range(4)]
    tool("-m", "lwl_jax.visualize", "--frames", frames, "--mask", work / "first.png", "--checkpoint",
         checkpoint[1], "--num_frames", "1", "--out", work / "fig.png", *SMALL)
    assert os.path.getsize(work / "fig.png") > 0
    _, variables = small_model
    pth = write_torch_file(tmp_path, variables_to_state_dict(variables), "trainer", "small.pth.tar")
    tool("-m", "lwl_jax.convert", pth, work / "converted")
    assert os.path.isfile(work / "converted" / "lwl_model.json")
    root = make_davis(work / "davis", n_frames=4, sequences=("s",))
    shutil.copytree(root / "Annotations" / "480p", work / "results")      # perfect results
    out = tool("-m", "lwl_jax.metrics", root, work / "results")
    assert "J&F-Mean 1.000" in out
    assert read_index_png(work / "results" / "s" / "00000.png").max() > 0
    # the demo's built-in model ships in the wheel and loads from there
    out = tool("-c", "from lwl_jax.demo import BUILTIN_MODEL; from lwl_jax.convert.checkpoint import load_model; "
                     "kind, _, v = load_model(BUILTIN_MODEL); print(kind, BUILTIN_MODEL)")
    assert out.split()[0] == "lwl" and os.path.realpath(out.split()[1]).startswith(os.path.realpath(venv)), out
