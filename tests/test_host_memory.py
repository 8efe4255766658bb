"""glibc allocator settings for XLA:CPU (``lwl_jax/host_memory.py``): train.py restarts itself once with them."""
import os
import subprocess
import sys

from lwl_jax.host_memory import MALLOC_SETTINGS, with_malloc_settings

SCRIPT = ("import os; from lwl_jax.host_memory import restart_with_malloc_settings as r; r(); "
          "print(os.getpid(), os.environ.get('MALLOC_ARENA_MAX'), os.environ.get('MALLOC_MMAP_MAX_'))")


def test_settings_are_added_unless_set_or_opted_out():
    env = with_malloc_settings({"PATH": "/bin", "MALLOC_ARENA_MAX": "4"})
    assert env["MALLOC_ARENA_MAX"] == "4" and env["MALLOC_MMAP_MAX_"] == MALLOC_SETTINGS["MALLOC_MMAP_MAX_"]
    assert with_malloc_settings({"LWL_JAX_MALLOC_DEFAULTS": "0"}) == {"LWL_JAX_MALLOC_DEFAULTS": "0"}


def test_the_process_restarts_itself_with_the_settings_keeping_its_pid():
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    p = subprocess.Popen([sys.executable, "-c", SCRIPT], env=env, stdout=subprocess.PIPE, text=True)
    out = p.communicate(timeout=120)[0].split()
    assert out == [str(p.pid), "1", "0"], out
    off = subprocess.run([sys.executable, "-c", SCRIPT], env={**env, "LWL_JAX_MALLOC_DEFAULTS": "0"},
                         capture_output=True, text=True, timeout=120).stdout.split()
    assert off[1:] == ["None", "None"], off
