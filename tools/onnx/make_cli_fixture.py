#!/usr/bin/env python3
"""Writes Tests/Fixtures/onnx-cli: a small NCHW image classifier with a dynamic batch dim 'N'
and its weights in an external data file, four calibration samples and ONNX Runtime's outputs
for them. Fixed seed, no downloads; run with tools/.venv-onnx/bin/python (onnx, onnxruntime, numpy)."""
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "Fixtures", "onnx-cli")
os.makedirs(os.path.join(root, "calib"), exist_ok=True)
rng = np.random.default_rng(20261203)


def weight(name, *shape, scale=0.3):
    return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)


inits = [weight("c1.w", 8, 3, 3, 3), weight("c1.b", 8, scale=0.1), weight("c2.w", 16, 8, 1, 1), weight("c2.b", 16, scale=0.1),
         weight("fc.w", 16, 5), weight("fc.b", 5, scale=0.1)]
nodes = [
    helper.make_node("Conv", ["image", "c1.w", "c1.b"], ["c1"], pads=[1, 1, 1, 1], strides=[1, 1]),
    helper.make_node("Relu", ["c1"], ["r1"]),
    helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
    helper.make_node("Conv", ["p1", "c2.w", "c2.b"], ["c2"]),
    helper.make_node("Relu", ["c2"], ["r2"]),
    helper.make_node("GlobalAveragePool", ["r2"], ["g"]),
    helper.make_node("Flatten", ["g"], ["f"]),
    helper.make_node("MatMul", ["f", "fc.w"], ["m"]),
    helper.make_node("Add", ["m", "fc.b"], ["logits"]),
    helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
]
graph = helper.make_graph(nodes, "small_cnn",
                          [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 12, 12])],
                          [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 5])], inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="ember make_cli_fixture")
onnx.checker.check_model(model)
path = os.path.join(root, "small_cnn.onnx")
weights = os.path.join(root, "small_cnn.weights")
if os.path.exists(weights):
    os.remove(weights)  # onnx appends external data to an existing file
onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                location="small_cnn.weights", size_threshold=0)
os.chmod(weights, 0o644)

session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
for k in range(4):
    x = rng.standard_normal((1, 3, 12, 12)).astype(np.float32)
    np.save(os.path.join(root, "calib", f"{k:02d}.npy"), x)
    (y,) = session.run(None, {"image": x})
    np.save(os.path.join(root, f"ort_{k:02d}.npy"), y)
print("wrote", root, file=sys.stderr)

# A streaming GRU: the hidden state goes in as an input and comes out as an output, so a caller
# carries it from one chunk of 4 frames to the next. ORT runs the chunks one after another.
stream = os.path.join(root, "streaming")
os.makedirs(stream, exist_ok=True)
hidden, features, frames = 8, 6, 4
gru = helper.make_node("GRU", ["chunk", "gru.W", "gru.R", "gru.B", "", "state_in"], ["y", "state_out"],
                       hidden_size=hidden, linear_before_reset=1)
head = helper.make_node("MatMul", ["y_last", "head.w"], ["scores"])
squeeze = helper.make_node("Reshape", ["state_out", "flat"], ["y_last"])
g = helper.make_graph(
    [gru, squeeze, head], "streaming_gru",
    [helper.make_tensor_value_info("chunk", TensorProto.FLOAT, [frames, 1, features]),
     helper.make_tensor_value_info("state_in", TensorProto.FLOAT, [1, 1, hidden])],
    [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 3]),
     helper.make_tensor_value_info("state_out", TensorProto.FLOAT, [1, 1, hidden])],
    [weight("gru.W", 1, 3 * hidden, features), weight("gru.R", 1, 3 * hidden, hidden), weight("gru.B", 1, 6 * hidden, scale=0.1),
     weight("head.w", hidden, 3), numpy_helper.from_array(np.array([1, hidden], dtype=np.int64), "flat")])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], producer_name="ember make_cli_fixture")
onnx.checker.check_model(m)
onnx.save_model(m, os.path.join(stream, "streaming_gru.onnx"))
session = ort.InferenceSession(os.path.join(stream, "streaming_gru.onnx"), providers=["CPUExecutionProvider"])
state = np.zeros((1, 1, hidden), dtype=np.float32)
np.save(os.path.join(stream, "state_0.npy"), state)
for k in range(3):
    chunk = rng.standard_normal((frames, 1, features)).astype(np.float32)
    np.save(os.path.join(stream, f"chunk_{k}.npy"), chunk)
    scores, state = session.run(None, {"chunk": chunk, "state_in": state})
    np.save(os.path.join(stream, f"ort_scores_{k}.npy"), scores)
    np.save(os.path.join(stream, f"ort_state_{k + 1}.npy"), state)

# An If on a data-dependent condition (sum(x) > 0): then doubles x, else subtracts one and negates.
# Two inputs take one branch each; ORT's outputs for both.
control = os.path.join(root, "control")
os.makedirs(control, exist_ok=True)
then_g = helper.make_graph([helper.make_node("Mul", ["x", "two"], ["then_y"])], "then", [],
                           [helper.make_tensor_value_info("then_y", TensorProto.FLOAT, [2, 3])],
                           [numpy_helper.from_array(np.array(2, dtype=np.float32), "two")])
else_g = helper.make_graph([helper.make_node("Sub", ["one", "x"], ["else_y"])], "else", [],
                           [helper.make_tensor_value_info("else_y", TensorProto.FLOAT, [2, 3])],
                           [numpy_helper.from_array(np.array(1, dtype=np.float32), "one")])
g = helper.make_graph(
    [helper.make_node("ReduceSum", ["x"], ["total"], keepdims=0),
     helper.make_node("Greater", ["total", "zero"], ["positive"]),
     helper.make_node("If", ["positive"], ["y"], then_branch=then_g, else_branch=else_g)],
    "if_select", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
    [numpy_helper.from_array(np.array(0, dtype=np.float32), "zero")])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], producer_name="ember make_cli_fixture")
onnx.checker.check_model(m)
onnx.save_model(m, os.path.join(control, "if_select.onnx"))
session = ort.InferenceSession(os.path.join(control, "if_select.onnx"), providers=["CPUExecutionProvider"])
for k, sign in enumerate([1, -1]):
    x = (np.abs(rng.standard_normal((2, 3))) * sign).astype(np.float32)
    np.save(os.path.join(control, f"x_{k}.npy"), x)
    np.save(os.path.join(control, f"ort_y_{k}.npy"), session.run(None, {"x": x})[0])

# small_cnn quantized by ORT into QDQ form (per-channel int8 weights, int8 activations calibrated on
# the four samples), with ORT's outputs for it (graph optimizations disabled: Q/DQ as float ops).
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static  # noqa: E402


class Samples(CalibrationDataReader):
    def __init__(self):
        self.left = iter([{"image": np.load(os.path.join(root, "calib", f"{k:02d}.npy"))} for k in range(4)])

    def get_next(self):
        return next(self.left, None)


def quantized_cnn(form, quant_format, activation_type):
    """small_cnn (batch fixed to 1) through quantize_static as small_cnn_FORM.onnx, with ORT's outputs
    for the calibration samples (graph optimizations disabled: Q/DQ as float ops)."""
    fixed = os.path.join(root, "small_cnn_fixed.onnx")
    m = onnx.load(path)
    m.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    onnx.save_model(m, fixed)
    out = os.path.join(root, f"small_cnn_{form}.onnx")
    quantize_static(fixed, out, Samples(), quant_format=quant_format, per_channel=True,
                    activation_type=activation_type, weight_type=QuantType.QInt8)
    os.remove(fixed)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(out, options, providers=["CPUExecutionProvider"])
    for k in range(4):
        x = np.load(os.path.join(root, "calib", f"{k:02d}.npy"))
        np.save(os.path.join(root, f"ort_{form}_{k:02d}.npy"), session.run(None, {"image": x})[0])
    return out


quantized_cnn("qdq", QuantFormat.QDQ, QuantType.QInt8)

# A tiny attention encoder with a dynamic batch and sequence length, exported the way torch does
# it: token ids and a padding mask in, Reshape targets computed by Shape → Gather → Concat, and
# ORT's outputs at three (batch, seq) sizes for `ember pack --dim batch<=2 --dim seq<=16`.
dynamic = os.path.join(root, "dynamic")
os.makedirs(dynamic, exist_ok=True)
E, H, D = 8, 2, 4
inits = [weight("emb", 20, E), weight("wq", E, E), weight("wk", E, E), weight("wv", E, E), weight("wo", E, 3),
         numpy_helper.from_array(np.ones(E, np.float32), "ln.g"), numpy_helper.from_array(np.zeros(E, np.float32), "ln.b"),
         numpy_helper.from_array(np.array([0], np.int64), "i0"), numpy_helper.from_array(np.array([1], np.int64), "i1"),
         numpy_helper.from_array(np.array([H, D], np.int64), "hd"), numpy_helper.from_array(np.array([E], np.int64), "e"),
         numpy_helper.from_array(np.array(-1e4, np.float32), "neg"), numpy_helper.from_array(np.array(1, np.float32), "one"),
         numpy_helper.from_array(np.array(D ** -0.5, np.float32), "scale")]
# Two positional tables added the ways exporters write them: pos[:, :seq] (Slice to a size from
# Shape) and pos2[arange(seq)] (Gather of a Range).
inits += [weight("pos", 1, 16, E, scale=0.1), weight("pos2", 16, E, scale=0.1),
          numpy_helper.from_array(np.array(0, np.int64), "zero"), numpy_helper.from_array(np.array(1, np.int64), "step")]
nodes = [helper.make_node("Gather", ["emb", "tokens"], ["tok"]),
         helper.make_node("Shape", ["tok"], ["ts"]),
         helper.make_node("Gather", ["ts", "i1"], ["ts1"], axis=0),
         helper.make_node("Slice", ["pos", "i0", "ts1", "i1"], ["pos_seq"]),
         helper.make_node("Squeeze", ["ts1", "i0"], ["seq_scalar"]),
         helper.make_node("Range", ["zero", "seq_scalar", "step"], ["positions"]),
         helper.make_node("Gather", ["pos2", "positions"], ["pos2_seq"]),
         helper.make_node("Add", ["tok", "pos_seq"], ["tok_pos"]),
         helper.make_node("Add", ["tok_pos", "pos2_seq"], ["x"]),
         helper.make_node("Shape", ["x"], ["xs"]),
         helper.make_node("Gather", ["xs", "i0"], ["b"], axis=0),
         helper.make_node("Gather", ["xs", "i1"], ["s"], axis=0),
         helper.make_node("Concat", ["b", "s", "hd"], ["split_shape"], axis=0),
         helper.make_node("Concat", ["b", "s", "e"], ["merge_shape"], axis=0)]
for name, w in [("q", "wq"), ("k", "wk"), ("v", "wv")]:
    nodes += [helper.make_node("MatMul", ["x", w], [name + "_flat"]),
              helper.make_node("Reshape", [name + "_flat", "split_shape"], [name + "_heads"]),
              helper.make_node("Transpose", [name + "_heads"], [name], perm=[0, 2, 1, 3])]
nodes += [helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2]),
          helper.make_node("MatMul", ["q", "kt"], ["scores_raw"]),
          helper.make_node("Mul", ["scores_raw", "scale"], ["scores"]),
          helper.make_node("Sub", ["one", "mask"], ["pad"]),
          helper.make_node("Mul", ["pad", "neg"], ["bias2"]),
          helper.make_node("Unsqueeze", ["bias2", "i1"], ["bias3"]),
          helper.make_node("Unsqueeze", ["bias3", "i1"], ["bias4"]),
          helper.make_node("Add", ["scores", "bias4"], ["masked"]),
          helper.make_node("Softmax", ["masked"], ["attn"], axis=-1),
          helper.make_node("MatMul", ["attn", "v"], ["ctx_heads"]),
          helper.make_node("Transpose", ["ctx_heads"], ["ctx_t"], perm=[0, 2, 1, 3]),
          helper.make_node("Reshape", ["ctx_t", "merge_shape"], ["ctx"]),
          helper.make_node("Add", ["ctx", "x"], ["res"]),
          helper.make_node("LayerNormalization", ["res", "ln.g", "ln.b"], ["normed"], axis=-1),
          helper.make_node("MatMul", ["normed", "wo"], ["logits"])]
g = helper.make_graph(nodes, "tiny_encoder",
                      [helper.make_tensor_value_info("tokens", TensorProto.INT64, ["batch", "seq"]),
                       helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["batch", "seq"])],
                      [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "seq", 3])], inits)
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], producer_name="ember make_cli_fixture")
onnx.checker.check_model(m)
onnx.save_model(m, os.path.join(dynamic, "tiny_encoder.onnx"))
session = ort.InferenceSession(os.path.join(dynamic, "tiny_encoder.onnx"), providers=["CPUExecutionProvider"])
for k, (batch, seq) in enumerate([(2, 16), (1, 5), (2, 9)]):
    tokens = rng.integers(0, 20, (batch, seq)).astype(np.int64)
    mask = np.ones((batch, seq), np.float32)
    mask[-1, seq - seq // 3:] = 0  # the last row is padded at its end
    np.save(os.path.join(dynamic, f"tokens_{k}.npy"), tokens)
    np.save(os.path.join(dynamic, f"mask_{k}.npy"), mask)
    np.save(os.path.join(dynamic, f"ort_logits_{k}.npy"), session.run(None, {"tokens": tokens, "mask": mask})[0])

# small_cnn at batch 3 (the first three calibration samples stacked), for --dim N<=4.
images = np.concatenate([np.load(os.path.join(root, "calib", f"{k:02d}.npy")) for k in range(3)])
np.save(os.path.join(dynamic, "image_batch3.npy"), images)
np.save(os.path.join(dynamic, "ort_image_batch3.npy"),
        ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"image": images})[0])

# com.microsoft contrib ops as ORT's transformer optimizer writes them (SkipLayerNormalization,
# FusedMatMul, BiasGelu, FastGelu, QuickGelu, Gelu, SkipSimplifiedLayerNormalization, and
# SimplifiedLayerNormalization, which ORT registers in the default domain), with ORT's outputs.
contrib = os.path.join(root, "contrib")
os.makedirs(contrib, exist_ok=True)
ms = "com.microsoft"
inits = [weight("gamma", 8, scale=1.0), weight("beta", 8, scale=0.1), weight("bias", 8, scale=0.1), weight("w", 8, 8),
         weight("b1", 8, scale=0.1), weight("b2", 8, scale=0.1), weight("gamma2", 8, scale=1.0), weight("scale", 8, scale=1.0)]
nodes = [helper.make_node("SkipLayerNormalization", ["x", "skip", "gamma", "beta", "bias"], ["ln", "", "", "sum"],
                          domain=ms, epsilon=1e-5),
         helper.make_node("FusedMatMul", ["ln", "w"], ["fm"], domain=ms, transB=1, alpha=0.5),
         helper.make_node("BiasGelu", ["fm", "b1"], ["bg"], domain=ms),
         helper.make_node("FastGelu", ["bg", "b2"], ["fg"], domain=ms),
         helper.make_node("QuickGelu", ["fg"], ["qg"], domain=ms, alpha=1.5),
         helper.make_node("Gelu", ["qg"], ["g"], domain=ms),
         helper.make_node("SkipSimplifiedLayerNormalization", ["g", "sum", "gamma2"], ["rms"], domain=ms, epsilon=1e-6),
         helper.make_node("SimplifiedLayerNormalization", ["rms", "scale"], ["y"], axis=-1, epsilon=1e-6)]
g = helper.make_graph(nodes, "contrib_ops",
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 5, 8]),
                       helper.make_tensor_value_info("skip", TensorProto.FLOAT, [2, 5, 8])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 5, 8]),
                       helper.make_tensor_value_info("sum", TensorProto.FLOAT, [2, 5, 8])], inits)
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(ms, 1)],
                      producer_name="ember make_cli_fixture")
onnx.save_model(m, os.path.join(contrib, "contrib_ops.onnx"))
session = ort.InferenceSession(os.path.join(contrib, "contrib_ops.onnx"), providers=["CPUExecutionProvider"])
x, skip = rng.standard_normal((2, 5, 8)).astype(np.float32), rng.standard_normal((2, 5, 8)).astype(np.float32)
np.save(os.path.join(contrib, "x.npy"), x)
np.save(os.path.join(contrib, "skip.npy"), skip)
y, s = session.run(None, {"x": x, "skip": skip})
np.save(os.path.join(contrib, "ort_y.npy"), y)
np.save(os.path.join(contrib, "ort_sum.npy"), s)

# small_cnn in ORT's QOperator form (QLinearConv, QLinearMatMul / QLinearAdd…), with ORT's outputs.
qop = quantized_cnn("qop", QuantFormat.QOperator, QuantType.QUInt8)
print(sorted({n.op_type for n in onnx.load(qop).graph.node}), file=sys.stderr)

# Loop with a constant trip count (a carried value and a scan output) and Scan forward and in reverse,
# unrolled by the importer, with ORT's outputs.
i_in = helper.make_tensor_value_info("i", TensorProto.INT64, [])
c_in = helper.make_tensor_value_info("cond_in", TensorProto.BOOL, [])
v_in = helper.make_tensor_value_info("v", TensorProto.FLOAT, [2, 3])
loop_body = helper.make_graph(
    [helper.make_node("Cast", ["i"], ["fi"], to=TensorProto.FLOAT),
     helper.make_node("Mul", ["v", "half"], ["v_half"]),
     helper.make_node("Add", ["v_half", "fi"], ["v_next"]),
     helper.make_node("Mul", ["v_next", "two"], ["doubled"]),
     helper.make_node("Identity", ["cond_in"], ["cond_out"])],
    "loop_body", [i_in, c_in, v_in],
    [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
     helper.make_tensor_value_info("v_next", TensorProto.FLOAT, [2, 3]),
     helper.make_tensor_value_info("doubled", TensorProto.FLOAT, [2, 3])],
    [numpy_helper.from_array(np.array(0.5, np.float32), "half"), numpy_helper.from_array(np.array(2, np.float32), "two")])
s_in = helper.make_tensor_value_info("s", TensorProto.FLOAT, [3])
x_in = helper.make_tensor_value_info("x_t", TensorProto.FLOAT, [3])
scan_body = helper.make_graph(
    [helper.make_node("Add", ["s", "x_t"], ["s_next"]), helper.make_node("Mul", ["s_next", "x_t"], ["y_t"])],
    "scan_body", [s_in, x_in],
    [helper.make_tensor_value_info("s_next", TensorProto.FLOAT, [3]), helper.make_tensor_value_info("y_t", TensorProto.FLOAT, [3])])
g = helper.make_graph(
    [helper.make_node("Loop", ["trips", "keep_going", "x"], ["v_final", "v_steps"], body=loop_body),
     helper.make_node("Scan", ["s0", "seq"], ["s_final", "ys"], body=scan_body, num_scan_inputs=1),
     helper.make_node("Scan", ["s0", "seq"], ["s_back", "ys_back"], body=scan_body, num_scan_inputs=1,
                      scan_input_directions=[1], scan_output_directions=[1])],
    "loop_scan",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]), helper.make_tensor_value_info("seq", TensorProto.FLOAT, [5, 3])],
    [helper.make_tensor_value_info(n, TensorProto.FLOAT, d) for n, d in
     [("v_final", [2, 3]), ("v_steps", [4, 2, 3]), ("s_final", [3]), ("ys", [5, 3]), ("s_back", [3]), ("ys_back", [5, 3])]],
    [numpy_helper.from_array(np.array(4, np.int64), "trips"), numpy_helper.from_array(np.array(True), "keep_going"),
     numpy_helper.from_array(np.zeros(3, np.float32), "s0")])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], producer_name="ember make_cli_fixture")
onnx.checker.check_model(m)
onnx.save_model(m, os.path.join(control, "loop_scan.onnx"))
session = ort.InferenceSession(os.path.join(control, "loop_scan.onnx"), providers=["CPUExecutionProvider"])
x, seq = rng.standard_normal((2, 3)).astype(np.float32), rng.standard_normal((5, 3)).astype(np.float32)
np.save(os.path.join(control, "loop_x.npy"), x)
np.save(os.path.join(control, "scan_seq.npy"), seq)
for name, value in zip(["v_final", "v_steps", "s_final", "ys", "s_back", "ys_back"], session.run(None, {"x": x, "seq": seq})):
    np.save(os.path.join(control, f"ort_{name}.npy"), value)

# A half-precision export (model.half()): float16 input, weights and output; ORT computes in float16,
# Ember in float32, so the outputs agree to float16's precision.
half = os.path.join(root, "half")
os.makedirs(half, exist_ok=True)
w16 = (rng.standard_normal((8, 4)) * 0.3).astype(np.float16)
b16 = (rng.standard_normal(4) * 0.1).astype(np.float16)
g = helper.make_graph(
    [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Add", ["m", "b"], ["a"]),
     helper.make_node("Relu", ["a"], ["r"]), helper.make_node("Softmax", ["r"], ["y"], axis=-1)],
    "half_mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT16, [3, 8])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT16, [3, 4])],
    [numpy_helper.from_array(w16, "w"), numpy_helper.from_array(b16, "b")])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], producer_name="ember make_cli_fixture")
onnx.checker.check_model(m)
onnx.save_model(m, os.path.join(half, "half_mlp.onnx"))
x16 = rng.standard_normal((3, 8)).astype(np.float16)
np.save(os.path.join(half, "x.npy"), x16)
np.save(os.path.join(half, "ort_y.npy"),
        ort.InferenceSession(os.path.join(half, "half_mlp.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x16})[0])
