#!/usr/bin/env python3
"""Weights between gradnet and PyTorch, both ways, through safetensors files.

    python3 scripts/pytorch_interop.py write   # PyTorch's files -> tests/data/pytorch/
    python3 scripts/pytorch_interop.py check   # gradnet's files (tests/data/gradnet/) into PyTorch
    python3 scripts/pytorch_interop.py         # both

Needs torch and safetensors. `cargo test` needs neither: it reads the committed files.

`write` makes three PyTorch models, saves each with
`safetensors.torch.save_file(model.state_dict(), ...)` (f32, as PyTorch trains), and
saves beside it (`*_io.safetensors`) a fixed input and PyTorch's outputs for it in
evaluation mode: in f64 (the model converted with `.double()`, for a tight comparison
with a gradnet f64 network, into which the f32 weights load exactly) and in f32.
tests/pytorch.rs loads them into the equivalent gradnet networks and compares.

`check` loads each gradnet-written file (written by tests/pytorch.rs with
GRADNET_BLESS=1, and checked by it to be what the current code writes) into the
equivalent PyTorch module with `load_state_dict(..., strict=True)`, checks each
tensor's dtype (the network's scalar type; `num_batches_tracked` int64), runs the
fixed input, and compares with the outputs gradnet computed and saved beside it.
"""

import pathlib
import sys

import torch
from safetensors.torch import load_file, save_file

ROOT = pathlib.Path(__file__).resolve().parent.parent
PYTORCH = ROOT / "tests" / "data" / "pytorch"
GRADNET = ROOT / "tests" / "data" / "gradnet"


def mlp():
    """The gradnet spec `input: 4, dense(8), batch_norm, relu, dropout(0.1), dense(3)`."""
    return torch.nn.Sequential(
        torch.nn.Linear(4, 8),
        torch.nn.BatchNorm1d(8),
        torch.nn.ReLU(),
        torch.nn.Dropout(0.1),
        torch.nn.Linear(8, 3),
    )


def lstm():
    """gradnet_core::Lstm<T, 3, 5>."""
    return torch.nn.LSTM(3, 5)


def gru_bi():
    """gradnet_core::Bidirectional<T, GruCell, 3, 4, 8>."""
    return torch.nn.GRU(3, 4, bidirectional=True)


def mlp_input():
    g = torch.Generator().manual_seed(1)
    return torch.randn(6, 4, generator=g, dtype=torch.float64)


def seq_input():
    g = torch.Generator().manual_seed(2)
    return torch.randn(5, 2, 3, generator=g, dtype=torch.float64)  # (steps, batch, features)


def outputs(model, x):
    """Evaluation-mode outputs: the MLP's logits; a recurrent layer's every-step
    output and h_n, batch rows first (h_n's directions concatenated, as gradnet's)."""
    model.eval()
    with torch.no_grad():
        if isinstance(model, torch.nn.Sequential):
            return {"output": model(x)}
        out, h = model(x)
        h = h[0] if isinstance(h, tuple) else h  # LSTM: (h_n, c_n)
        return {"output": out, "h_n": torch.cat(list(h), dim=1)}


def write():
    PYTORCH.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    net = mlp()
    # A few training steps so that the running statistics and num_batches_tracked
    # are not their initial values.
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    g = torch.Generator().manual_seed(3)
    for _ in range(5):
        x = torch.randn(16, 4, generator=g)
        loss = net(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.manual_seed(0)
    models = {"mlp_bn": (net, mlp_input()), "lstm": (lstm(), seq_input()), "gru_bi": (gru_bi(), seq_input())}
    for name, (model, x) in models.items():
        save_file(model.state_dict(), PYTORCH / f"{name}.safetensors")
        io = {"input": x}
        for k, v in outputs(model.double(), x).items():
            io[f"{k}_f64"] = v
        for k, v in outputs(model.float(), x.float()).items():
            io[f"{k}_f32"] = v
        save_file({k: v.contiguous() for k, v in io.items()}, PYTORCH / f"{name}_io.safetensors")
        size = (PYTORCH / f"{name}.safetensors").stat().st_size
        print(f"wrote {name}.safetensors ({size} bytes) and {name}_io.safetensors")


def check():
    builders = {"mlp_bn": mlp, "lstm": lstm, "gru_bi": gru_bi}
    files = sorted(p for p in GRADNET.glob("*.safetensors") if not p.stem.endswith("_io"))
    if not files:
        sys.exit(f"no gradnet files in {GRADNET}: run GRADNET_BLESS=1 cargo test --test pytorch")
    worst = 0.0
    for path in files:
        kind, dtype = path.stem.rsplit("_", 1)  # mlp_bn_f32 -> mlp_bn, f32
        torch_dtype = {"f32": torch.float32, "f64": torch.float64}[dtype]
        state = load_file(path)
        for k, v in state.items():
            want = torch.int64 if k.endswith("num_batches_tracked") else torch_dtype
            assert v.dtype == want, f"{path.name}: {k} is {v.dtype}, expected {want}"
        model = builders[kind]().to(torch_dtype)
        model.load_state_dict(state, strict=True)
        io = load_file(GRADNET / f"{path.stem}_io.safetensors")
        got = outputs(model, io["input"].to(torch_dtype))
        tol = 1e-12 if dtype == "f64" else 1e-5
        for k, v in got.items():
            diff = (v.double() - io[k].double()).abs().max().item()
            worst = max(worst, diff if dtype == "f64" else 0.0)
            assert diff <= tol, f"{path.name}: {k} differs by {diff}"
            print(f"{path.name}: load_state_dict(strict=True) ok, {k} {tuple(v.shape)} max |diff| {diff:.2e}")
    print(f"all {len(files)} gradnet files load strictly into PyTorch {torch.__version__.split('+')[0]} and match gradnet's outputs")


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "both"
    if what in ("write", "both"):
        write()
    if what in ("check", "both"):
        check()
