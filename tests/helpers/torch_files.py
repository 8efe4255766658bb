"""Write real ``torch.save`` files in the reference's layouts (run in a subprocess that has torch).

The trainer layout pickles objects of ``ltr.admin.*`` classes; a throw-away ``ltr`` package is generated in a
temporary folder for the writer only, so the reader later runs where those modules do not exist.
"""
import os
import subprocess
import sys
import textwrap

import numpy as np

FAKE_LTR = {
    "ltr/__init__.py": "",
    "ltr/admin/__init__.py": "",
    "ltr/admin/model_constructor.py": """
        class NetConstructor:
            def __init__(self, fun_name, fun_module, args, kwds):
                self.fun_name, self.fun_module, self.args, self.kwds = fun_name, fun_module, args, kwds
            def get(self):
                raise RuntimeError('never called by a loader')
    """,
    "ltr/admin/local.py": """
        class EnvironmentSettings:
            def __init__(self):
                self.workspace_dir = '/home/user/workspace'
    """,
    "ltr/admin/settings.py": """
        from ltr.admin.local import EnvironmentSettings
        class Settings:
            def __init__(self):
                self.env = EnvironmentSettings()
                self.batch_size = 20
    """,
    "ltr/admin/stats.py": """
        class StatValue:
            def __init__(self):
                self.val = 0
        class AverageMeter:
            def __init__(self):
                self.val = self.avg = self.sum = 0.0
                self.count = 0
    """,
}

WRITER = r"""
import collections, sys
import numpy as np
import torch
sys.path.insert(0, sys.argv[1])
layout, src, dst = sys.argv[2], sys.argv[3], sys.argv[4]
data = np.load(src)
sd = collections.OrderedDict((k, torch.from_numpy(np.array(data[k]))) for k in data.files)
kw = {}
if layout == "trainer":
    from ltr.admin.model_constructor import NetConstructor
    from ltr.admin.settings import Settings
    from ltr.admin.stats import AverageMeter, StatValue
    meter = AverageMeter(); meter.avg = np.float64(0.25); meter.count = 7
    p = next(iter(sd.values()))
    obj = {"epoch": 3, "actor_type": "LWLActor", "net_type": "LWTLNet", "net": sd, "net_info": None,
           "constructor": NetConstructor("steepest_descent_resnet50", "dlframework.models.lwl.lwl_net", (),
                                         {"filter_size": 3, "backbone_type": "mrcnn", "optim_iter": 2}),
           "optimizer": {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.zeros_like(p)}},
                         "param_groups": [{"lr": 2e-5, "params": [0]}]},
           "stats": collections.OrderedDict(train=collections.OrderedDict(Loss=meter, epoch=StatValue())),
           "settings": Settings()}
elif layout == "dataparallel":
    obj = collections.OrderedDict(("module." + k, v) for k, v in sd.items())
elif layout == "legacy":
    obj = sd
    kw["_use_new_zipfile_serialization"] = False
else:
    obj = sd
torch.save(obj, dst, **kw)
"""


def write_torch_file(tmp_path, state_dict, layout, name="ckpt.pth"):
    """Save ``state_dict`` (numpy arrays) with real torch in ``layout`` ('trainer', 'dataparallel', 'legacy',
    'bare'); returns the file's path."""
    root = tmp_path / "fake_modules"
    for rel, text in FAKE_LTR.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    src = tmp_path / "sd.npz"
    np.savez(src, **state_dict)
    dst = tmp_path / name
    subprocess.run([sys.executable, "-c", WRITER, str(root), layout, str(src), str(dst)], check=True,
                   env={**os.environ, "PYTHONPATH": ""})
    return dst
