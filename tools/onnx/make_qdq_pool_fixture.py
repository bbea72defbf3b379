#!/usr/bin/env python3
"""Writes Tests/Fixtures/onnx-cli/qdq_pool: a QDQ AveragePool (x → Q/DQ → AveragePool 2×2 → Q/DQ) whose
averages land halfway between codes, an input and ONNX Runtime's output. Ember folds the pairs into an int8
average pool that rounds those ties as TFLite does (away from zero), ORT's float pool and QuantizeLinear to
even: the one folded op that does not give ORT's codes, which `ember pack --qdq-max-quanta` is tested on.
Fixed seed, no downloads; run with a Python that has onnx, onnxruntime and numpy."""
import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "Fixtures", "onnx-cli", "qdq_pool")
os.makedirs(out, exist_ok=True)
scale = numpy_helper.from_array(np.array(1 / 16, np.float32), "s")
zero = numpy_helper.from_array(np.array(0, np.int8), "z")
nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"]),
         helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"]),
         helper.make_node("AveragePool", ["xd"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
         helper.make_node("QuantizeLinear", ["p", "s", "z"], ["pq"]),
         helper.make_node("DequantizeLinear", ["pq", "s", "z"], ["y"])]
g = helper.make_graph(nodes, "qdq_pool", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 8, 8])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 4, 4])], [scale, zero])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], producer_name="ember make_qdq_pool_fixture")
onnx.checker.check_model(m)
onnx.save_model(m, os.path.join(out, "qdq_pool.onnx"))
x = (np.random.default_rng(20261207).integers(-100, 100, (1, 2, 8, 8)) / 16).astype(np.float32)
np.save(os.path.join(out, "x.npy"), x)
options = ort.SessionOptions()
options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
y = ort.InferenceSession(os.path.join(out, "qdq_pool.onnx"), options, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
np.save(os.path.join(out, "ort_y.npy"), y)
