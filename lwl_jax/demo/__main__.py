"""python -m lwl_jax.demo [--checkpoint CKPT] [--port 7860] [--host 127.0.0.1] [--max_frames 300] [--config.key=v]"""
from __future__ import annotations

import argparse
import sys
import tempfile

from lwl_jax.cli import entry_point


def _main(argv) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    overrides = [a for a in argv if a.startswith("--config.")]
    p = argparse.ArgumentParser(prog="python -m lwl_jax.demo", description="Interactive LWL demo in the browser.")
    p.add_argument("--checkpoint", help="default: the small built-in model trained on synthetic shapes")
    p.add_argument("--config", help="tracker settings (default: lwl_synthetic for the built-in model, else lwl_ytvos, "
                                    "lwl_boxinit for a box-init checkpoint)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--max_frames", type=int, default=300, help="longest clip the page accepts")
    a = p.parse_args([x for x in argv if not x.startswith("--config.")])
    try:
        import gradio  # noqa: F401
    except ImportError:
        from lwl_jax.errors import ConfigError
        raise ConfigError('the demo needs Gradio: pip install -e ".[demo]"') from None

    from lwl_jax.config_util import load_config
    from lwl_jax.convert.checkpoint import load_model
    from lwl_jax.demo import BUILTIN_CONFIG, BUILTIN_MODEL
    from lwl_jax.demo.app import build_app

    checkpoint = a.checkpoint or BUILTIN_MODEL
    kind, model, variables = load_model(checkpoint)
    default = BUILTIN_CONFIG if a.checkpoint is None else ("lwl_boxinit" if kind == "lwl_boxinit" else "lwl_ytvos")
    params = load_config(a.config or default, overrides)
    workdir = tempfile.mkdtemp(prefix="lwl_demo_")
    app = build_app(model, variables, params, kind, workdir, a.max_frames)
    print(f"LWL demo on http://{a.host}:{a.port} (checkpoint: {checkpoint})", flush=True)
    app.queue(default_concurrency_limit=1).launch(server_name=a.host, server_port=a.port, allowed_paths=[workdir])
    return 0


main = entry_point(_main)

if __name__ == "__main__":
    sys.exit(main())
