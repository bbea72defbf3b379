#!/usr/bin/env python3
"""Build a reproducible ONNX export zoo: PyTorch models with random weights (fixed seeds,
nothing downloaded), exported with the TorchScript exporter and the dynamo exporter where
each works, plus QDQ int8 versions (onnxruntime.quantization.quantize_static), each with a
fixed-seed input and ONNX Runtime's outputs (CPU EP, graph optimizations disabled).

    python3 tools/zoo/make_onnx_zoo.py [--only NAME[,NAME]] [--flavours F[,F]] [--force] [--list]

Flavours: torchscript (torch.onnx.export(dynamo=False), opset 17), dynamo
(torch.onnx.export(dynamo=True), opset 18), qdq (the torchscript export quantized to int8
QDQ: per-channel int8 weights, int8 activations calibrated on 8 fixed-seed samples; CNNs only).

Layout, per entry:
    tools/zoo/.onnx-cache/<model>/<flavour>/model.onnx
                                           inputs/00.npy ...   (one per model input, by index)
                                           outputs/00.npy ...  (ORT outputs, by index)
                                           meta.json           (names, dims, pack flags, op histogram, errors)

The first run creates tools/zoo/.venv-onnx-zoo and installs torch, torchvision, onnx,
onnxruntime, onnxscript and numpy from PyPI into it. `bash tools/zoo/check_onnx.sh` packs
and runs every entry with Ember and writes docs/ONNX_ZOO.md.
"""
import argparse
import json
import os
import sys
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
VENV = os.path.join(HERE, ".venv-onnx-zoo")
CACHE = os.path.join(HERE, ".onnx-cache")
PACKAGES = ["torch", "torchvision", "onnx", "onnxruntime", "onnxscript", "numpy"]
FLAVOURS = ["torchscript", "dynamo", "qdq"]


def ensure_venv():
    """Re-exec in tools/zoo/.venv-onnx-zoo, creating it on first use (the TFLite zoo's helper)."""
    sys.path.insert(0, HERE)
    import make_tflite_zoo  # no TensorFlow import at module level
    make_tflite_zoo.ensure_venv(VENV, PACKAGES)


# ----------------------------------------------------------------------------- models
# Each builder returns (module, example inputs as numpy arrays keyed by name, spec) where spec
# may give "dynamic" ({input: {axis: dim name}}), "pack_args" and "qdq" (False to skip).

torch = None
nn = None


def randomize_batchnorm(model, gen):
    """BatchNorm statistics and affine drawn from a fixed-seed generator, so folding them is not the identity."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(c, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(c, generator=gen) * 0.1)
    return model


def image(rng, size=96):
    return {"image": rng.standard_normal((1, 3, size, size)).astype("float32")}


def torchvision_model(name):
    def build(rng, gen):
        import torchvision
        m = getattr(torchvision.models, name)(weights=None, num_classes=100)
        return randomize_batchnorm(m, gen), image(rng), {}
    return build


def detector(rng, gen):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            def block(i, o, s):
                return nn.Sequential(nn.Conv2d(i, o, 3, s, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU6())
            self.stem = nn.Sequential(block(3, 16, 2), block(16, 32, 2), block(32, 32, 1))
            self.down = nn.Sequential(block(32, 64, 2), block(64, 64, 1))
            self.box = nn.ModuleList([nn.Conv2d(32, 3 * 4, 1), nn.Conv2d(64, 3 * 4, 1)])
            self.cls = nn.ModuleList([nn.Conv2d(32, 3 * 10, 1), nn.Conv2d(64, 3 * 10, 1)])

        def forward(self, image):
            a = self.stem(image)
            b = self.down(a)
            boxes, scores = [], []
            for f, bh, ch in ((a, self.box[0], self.cls[0]), (b, self.box[1], self.cls[1])):
                n = f.shape[0]
                boxes.append(bh(f).permute(0, 2, 3, 1).reshape(n, -1, 4))
                scores.append(torch.sigmoid(ch(f).permute(0, 2, 3, 1).reshape(n, -1, 10)))
            return torch.cat(boxes, 1), torch.cat(scores, 1)
    return randomize_batchnorm(Net(), gen), image(rng, 128), {}


def recurrent(kind):
    def build(rng, gen):
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.rnn = getattr(nn, kind)(16, 32, num_layers=2, batch_first=True)
                self.head = nn.Linear(32, 12)

            def forward(self, features):
                y, _ = self.rnn(features)
                return torch.softmax(self.head(y[:, -1]), -1)
        return Net(), {"features": rng.standard_normal((1, 20, 16)).astype("float32")}, {"qdq": False}
    return build


def transformer(rng, gen):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(1000, 64)
            self.position = nn.Parameter(torch.randn(1, 64, 64, generator=gen) * 0.02)
            layer = nn.TransformerEncoderLayer(64, 4, 128, dropout=0.0, batch_first=True, activation="gelu")
            self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            self.head = nn.Linear(64, 4)

        def forward(self, tokens, mask):
            x = self.embed(tokens) + self.position[:, : tokens.shape[1]]
            x = self.encoder(x, src_key_padding_mask=mask == 0)
            keep = mask.unsqueeze(-1).to(x.dtype)
            pooled = (x * keep).sum(1) / keep.sum(1).clamp(min=1)
            return self.head(pooled)
    tokens = rng.integers(0, 1000, size=(1, 32)).astype("int64")
    mask = (rng.random((1, 32)) < 0.8).astype("int64")
    mask[0, 0] = 1
    return Net(), {"tokens": tokens, "mask": mask}, {
        "dynamic": {"tokens": {0: "batch", 1: "seq"}, "mask": {0: "batch", 1: "seq"}},
        "pack_args": ["--dim", "batch=1", "--dim", "seq=32"], "qdq": False}


def spectrogram(rng, gen):
    import numpy as np
    n_fft, hop = 256, 128
    t = np.arange(n_fft)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * t / n_fft)
    freqs = np.arange(n_fft // 2 + 1)[:, None]
    real = (np.cos(2 * np.pi * freqs * t / n_fft) * window).astype("float32")
    imag = (-np.sin(2 * np.pi * freqs * t / n_fft) * window).astype("float32")

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.dft = nn.Conv1d(1, 2 * (n_fft // 2 + 1), n_fft, hop, bias=False)
            self.dft.weight.data.copy_(torch.from_numpy(np.concatenate([real, imag])[:, None, :]))
            self.dft.weight.requires_grad_(False)
            self.body = nn.Sequential(nn.Conv2d(1, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 16, 3, 2, 1), nn.ReLU(),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))

        def forward(self, waveform):
            s = self.dft(waveform)
            re, im = s.chunk(2, dim=1)
            power = torch.log(re * re + im * im + 1e-6)
            return self.body(power.unsqueeze(1))
    return Net(), {"waveform": rng.standard_normal((1, 1, 4000)).astype("float32")}, {}


def control_flow(rng, gen):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(16, 16)
            self.b = nn.Linear(16, 16)

        def forward(self, x):
            if bool(x.sum() > 0):
                y = self.a(x)
            else:
                y = self.b(x)
            # A trip count from the input's shape: the exporter writes a Loop (a constant range it unrolls).
            for _ in range(y.size(0) + 1):
                y = torch.tanh(self.a(y)) + y
            return y
    # Scripted, so the TorchScript exporter keeps If and Loop instead of tracing one branch.
    return torch.jit.script(Net()), {"x": rng.standard_normal((2, 16)).astype("float32")}, {"qdq": False, "no_dynamo": True}


MODELS = {
    "mobilenet_v3_small": torchvision_model("mobilenet_v3_small"),
    "resnet18": torchvision_model("resnet18"),
    "efficientnet_b0": torchvision_model("efficientnet_b0"),
    "detector": detector,
    "gru_kws": recurrent("GRU"),
    "lstm_kws": recurrent("LSTM"),
    "transformer": transformer,
    "spectrogram": spectrogram,
    "control_flow": control_flow,
}


# ----------------------------------------------------------------------------- building

def entry_dir(name, flavour):
    return os.path.join(CACHE, name, flavour)


def status(name, flavour):
    p = os.path.join(entry_dir(name, flavour), "meta.json")
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return json.load(f)


def seeded(name):
    import numpy as np
    seed = sum(map(ord, name)) * 7919
    torch.manual_seed(seed)
    return np.random.default_rng(seed), torch.Generator().manual_seed(seed)


def export(module, inputs, spec, path, dynamo):
    args = tuple(torch.from_numpy(v) for v in inputs.values())
    names = list(inputs)
    dynamic = spec.get("dynamic")
    if dynamo:
        shapes = None
        if dynamic:
            # torch.export specializes a dim whose example size is 1 (and then refuses a range with
            # min 2), so trace with such dims repeated to 2; the ORT references still use `inputs`.
            widened = []
            for a, n in zip(args, names):
                for axis in dynamic.get(n, {}):
                    if a.shape[axis] == 1:
                        a = a.repeat_interleave(2, dim=axis)
                widened.append(a)
            args = tuple(widened)
            dims = {}
            shapes = {n: {a: dims.setdefault(d, torch.export.Dim(d, min=2, max=64)) for a, d in dynamic.get(n, {}).items()}
                      for n in names}
        program = torch.onnx.export(module, args, dynamo=True, input_names=names, dynamic_shapes=shapes,
                                    opset_version=18, optimize=True)
        program.save(path)
    else:
        torch.onnx.export(module, args, path, dynamo=False, input_names=names, opset_version=17,
                          dynamic_axes=dynamic, do_constant_folding=True)


def quantize(src, dst, inputs, rng):
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.samples = iter([{k: rng.standard_normal(v.shape).astype(v.dtype) for k, v in inputs.items()}
                                 for _ in range(8)])

        def get_next(self):
            return next(self.samples, None)
    quantize_static(src, dst, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)


def reference(path, inputs, d):
    import numpy as np
    import onnx
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    feeds, meta_in = {}, []
    os.makedirs(os.path.join(d, "inputs"), exist_ok=True)
    os.makedirs(os.path.join(d, "outputs"), exist_ok=True)
    for k, i in enumerate(session.get_inputs()):
        feeds[i.name] = inputs[i.name]
        f = f"inputs/{k:02d}.npy"
        np.save(os.path.join(d, f), inputs[i.name])
        meta_in.append({"name": i.name, "file": f, "dtype": str(inputs[i.name].dtype), "shape": list(inputs[i.name].shape)})
    meta_out = []
    for k, (o, y) in enumerate(zip(session.get_outputs(), session.run(None, feeds))):
        f = f"outputs/{k:02d}.npy"
        np.save(os.path.join(d, f), y)
        meta_out.append({"name": o.name, "file": f, "dtype": str(y.dtype), "shape": list(y.shape)})
    model = onnx.load(path, load_external_data=False)
    ops = {}

    def count(g):
        for n in g.node:
            key = (n.domain + "." if n.domain not in ("", "ai.onnx") else "") + n.op_type
            ops[key] = ops.get(key, 0) + 1
            for a in n.attribute:
                if a.g.node:
                    count(a.g)
    count(model.graph)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    return meta_in, meta_out, ops, opset


def build(name, flavour, force):
    d = entry_dir(name, flavour)
    if status(name, flavour) is not None and not force:
        return status(name, flavour)
    rng, gen = seeded(name)
    module, inputs, spec = MODELS[name](rng, gen)
    if (flavour == "qdq" and spec.get("qdq", True) is False) or (flavour == "dynamo" and spec.get("no_dynamo")):
        return None
    os.makedirs(d, exist_ok=True)
    if hasattr(module, "eval"):
        module.eval()
    meta = {"model": name, "flavour": flavour, "model_file": "model.onnx", "pack_args": spec.get("pack_args", [])}
    path = os.path.join(d, "model.onnx")
    try:
        with torch.no_grad():
            if flavour == "qdq":
                float_path = os.path.join(d, "float.onnx")
                export(module, inputs, spec, float_path, dynamo=False)
                quantize(float_path, path, inputs, rng)
                os.remove(float_path)
            else:
                export(module, inputs, spec, path, dynamo=flavour == "dynamo")
    except Exception as e:  # an exporter that cannot export this model is a finding, not a crash
        meta["conversion_error"] = f"{type(e).__name__}: {e}".strip()
        traceback.print_exc()
    else:
        try:
            meta["inputs"], meta["outputs"], meta["ops"], meta["opset"] = reference(path, inputs, d)
        except Exception as e:
            meta["reference_error"] = f"{type(e).__name__}: {e}".strip()
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    return meta


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only")
    ap.add_argument("--flavours", default=",".join(FLAVOURS))
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()
    names = [n for n in MODELS if not a.only or n in a.only.split(",")]
    flavours = a.flavours.split(",")
    if a.list:
        for n in names:
            print(n, " ".join(f"{f}:{'built' if status(n, f) else '-'}" for f in flavours))
        return 0
    ensure_venv()
    global torch, nn
    import torch as _torch
    torch, nn = _torch, _torch.nn
    torch.set_num_threads(2)
    if hasattr(torch.backends, "mha"):
        torch.backends.mha.set_fastpath_enabled(False)  # the exporters trace the plain attention path
    for n in names:
        for f in flavours:
            meta = build(n, f, a.force)
            if meta is None:
                continue
            what = meta.get("conversion_error") or meta.get("reference_error") or f"opset {meta.get('opset')}, {sum(meta['ops'].values())} nodes"
            print(f"{n:20s} {f:12s} {what[:150]}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
