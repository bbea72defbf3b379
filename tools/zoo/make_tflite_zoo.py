#!/usr/bin/env python3
"""Build a reproducible TFLite model zoo: Keras architectures with random weights
(weights=None, fixed seeds, nothing downloaded), each converted in several flavours,
with one fixed-seed input and LiteRT reference-kernel outputs per entry.

    python3 tools/zoo/make_tflite_zoo.py [--only NAME[,NAME]] [--flavours F[,F]] [--force] [--list]

Flavours: float32, float16 (fp16-stored weights), dynamic_int8 (dynamic-range /
hybrid), int8 (full integer, int8 input and output), sparse (for a few models: ~80 %
of the conv/dense weights set to zero, converted with EXPERIMENTAL_SPARSITY).

Layout, per entry:
    tools/zoo/.cache/<model>/<flavour>/model.tflite
                                      inputs/00.npy ...   (one per model input, by index)
                                      outputs/00.npy ...  (LiteRT BUILTIN_REF outputs, by index)
                                      meta.json           (names, dtypes, shapes, op histogram, errors)
    tools/zoo/.cache/ops.tsv          model, flavour, op, count (every built entry)

The first run creates tools/zoo/.venv and installs tensorflow-cpu, tf-keras,
ai-edge-litert and numpy from PyPI into it. Models are built with Keras 2
(tf-keras, TF_USE_LEGACY_KERAS=1): its TFLite converter path is the mature one.
Entries already built are skipped unless --force.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
VENV = os.path.join(HERE, ".venv")
CACHE = os.path.join(HERE, ".cache")
PARTIAL = "meta.partial.json"
PACKAGES = ["tensorflow-cpu", "tf-keras", "ai-edge-litert", "numpy"]
FLAVOURS = ["float32", "float16", "dynamic_int8", "int8", "sparse"]


def ensure_venv(venv=VENV, packages=PACKAGES):
    """Re-exec in `venv` (tools/zoo/.venv by default), creating it with `packages` on first use."""
    py = os.path.join(venv, "bin", "python")
    if os.path.abspath(sys.executable) == os.path.abspath(py) or os.environ.get("ZOO_NO_VENV"):
        return
    if not os.path.exists(py):
        print("zoo: creating", venv, "and installing", " ".join(packages), file=sys.stderr)
        subprocess.check_call([sys.executable, "-m", "venv", venv])
        subprocess.check_call([os.path.join(venv, "bin", "pip"), "install", "-q"] + packages)
    os.execv(py, [py] + sys.argv)


# ----------------------------------------------------------------------------- models
# Each builder returns a tf.keras Model with a static batch of 1. `tf` and `keras` are
# bound in main() after the environment is set.
tf = None
keras = None
L = None


def _app(fn, **kw):
    return fn(weights=None, **kw)


def m_mobilenet_v1():
    return _app(keras.applications.MobileNet, input_shape=(96, 96, 3), alpha=0.25, classes=100)


def m_mobilenet_v2():
    return _app(keras.applications.MobileNetV2, input_shape=(96, 96, 3), alpha=0.35, classes=100)


def m_mobilenet_v3_small():
    return _app(keras.applications.MobileNetV3Small, input_shape=(96, 96, 3), alpha=0.75, classes=100,
                include_preprocessing=False)


def m_mobilenet_v3_large():
    return _app(keras.applications.MobileNetV3Large, input_shape=(96, 96, 3), alpha=0.75, classes=100,
                include_preprocessing=False)


def m_efficientnet_b0():
    return _app(keras.applications.EfficientNetB0, input_shape=(96, 96, 3), classes=100)


def m_resnet50():
    return _app(keras.applications.ResNet50, input_shape=(64, 64, 3), classes=100)


def m_densenet121():
    return _app(keras.applications.DenseNet121, input_shape=(64, 64, 3), classes=100)


def _conv_bn(x, filters, k=3, s=1, d=1, act="relu"):
    x = L.Conv2D(filters, k, strides=s, dilation_rate=d, padding="same", use_bias=False)(x)
    x = L.BatchNormalization()(x)
    return L.Activation(act)(x) if act else x


def m_ssd_detector():
    """Small backbone, two feature maps, per-level box and class heads, concatenated."""
    anchors, classes = 3, 6
    inp = L.Input((128, 128, 3), batch_size=1, name="image")
    x = _conv_bn(inp, 16, s=2)
    x = _conv_bn(x, 32, s=2)
    x = L.DepthwiseConv2D(3, padding="same")(x)
    x = _conv_bn(x, 48, k=1, s=2, act="relu6")
    f1 = _conv_bn(x, 64, s=2)        # 8x8
    f2 = _conv_bn(f1, 96, s=2)       # 4x4
    boxes, scores = [], []
    for f in (f1, f2):
        n = f.shape[1] * f.shape[2] * anchors
        b = L.Conv2D(anchors * 4, 3, padding="same")(f)
        boxes.append(L.Reshape((n, 4))(b))
        c = L.Conv2D(anchors * classes, 3, padding="same")(f)
        scores.append(L.Reshape((n, classes))(c))
    boxes = L.Concatenate(axis=1, name="boxes")(boxes)
    scores = L.Activation("sigmoid", name="scores")(L.Concatenate(axis=1)(scores))
    return keras.Model(inp, [boxes, scores], name="ssd_detector")


def m_unet():
    inp = L.Input((96, 96, 3), batch_size=1, name="image")
    c1 = _conv_bn(inp, 16)
    p1 = L.MaxPooling2D()(c1)
    c2 = _conv_bn(p1, 32)
    p2 = L.MaxPooling2D()(c2)
    c3 = _conv_bn(p2, 64)
    u2 = L.Conv2DTranspose(32, 2, strides=2, padding="same")(c3)
    c4 = _conv_bn(L.Concatenate()([u2, c2]), 32)
    u1 = L.UpSampling2D(interpolation="bilinear")(c4)
    c5 = _conv_bn(L.Concatenate()([u1, c1]), 16)
    u0 = L.UpSampling2D(interpolation="nearest")(L.MaxPooling2D()(c5))
    out = L.Conv2D(4, 1, activation="softmax", name="mask")(u0)
    return keras.Model(inp, out, name="unet")


def m_deeplab():
    """Strided backbone, ASPP with dilated convs and image pooling, bilinear resize."""
    inp = L.Input((128, 128, 3), batch_size=1, name="image")
    x = _conv_bn(inp, 16, s=2)
    x = _conv_bn(x, 32, s=2)
    x = _conv_bn(x, 48, s=2)            # 16x16
    branches = [_conv_bn(x, 32, k=1)]
    for d in (2, 4, 6):
        branches.append(_conv_bn(x, 32, d=d))
    pool = L.GlobalAveragePooling2D(keepdims=True)(x)
    pool = _conv_bn(pool, 32, k=1)
    pool = L.Resizing(16, 16, interpolation="bilinear")(pool)
    branches.append(pool)
    y = _conv_bn(L.Concatenate()(branches), 32, k=1)
    y = L.Conv2D(5, 1)(y)
    y = L.Resizing(128, 128, interpolation="bilinear", name="logits")(y)
    return keras.Model(inp, y, name="deeplab")


def m_audio_conv1d():
    inp = L.Input((4000, 1), batch_size=1, name="waveform")
    x = L.Conv1D(16, 9, strides=4, activation="relu")(inp)
    x = L.MaxPooling1D(2)(x)
    x = L.Conv1D(32, 5, strides=2, padding="same", activation="relu")(x)
    x = L.BatchNormalization()(x)
    x = L.Conv1D(32, 3, dilation_rate=2, padding="same", activation="relu")(x)
    x = L.AveragePooling1D(2)(x)
    x = L.Conv1D(64, 3, padding="same", activation="relu")(x)
    x = L.GlobalAveragePooling1D()(x)
    x = L.Dense(32, activation="relu")(x)
    out = L.Dense(12, activation="softmax", name="probs")(x)
    return keras.Model(inp, out, name="audio_conv1d")


def _rnn(cell, unroll):
    inp = L.Input((20, 16), batch_size=1, name="sequence")
    x = cell(32, return_sequences=True, unroll=unroll)(inp)
    x = cell(32, unroll=unroll)(x)
    out = L.Dense(8, activation="softmax", name="probs")(x)
    return keras.Model(inp, out)


def m_gru():
    return _rnn(L.GRU, unroll=False)


def m_gru_unrolled():
    return _rnn(L.GRU, unroll=True)


def m_lstm():
    return _rnn(L.LSTM, unroll=False)


VOCAB, SEQ = 1000, 32


def m_transformer():
    tokens = L.Input((SEQ,), batch_size=1, dtype="int32", name="tokens")
    x = L.Embedding(VOCAB, 64)(tokens)
    pos = L.Embedding(SEQ, 64)(tf.range(SEQ)[tf.newaxis, :])
    x = x + pos
    for _ in range(2):
        h = L.LayerNormalization(epsilon=1e-6)(x)
        h = L.MultiHeadAttention(num_heads=4, key_dim=16)(h, h)
        x = L.Add()([x, h])
        h = L.LayerNormalization(epsilon=1e-6)(x)
        h = L.Dense(128, activation="gelu")(h)
        h = L.Dense(64)(h)
        x = L.Add()([x, h])
    x = L.LayerNormalization(epsilon=1e-6)(x)
    x = L.GlobalAveragePooling1D()(x)
    out = L.Dense(4, activation="softmax", name="probs")(x)
    return keras.Model(tokens, out, name="transformer")


def m_prelu_cnn():
    inp = L.Input((64, 64, 3), batch_size=1, name="image")
    x = inp
    for f in (16, 32, 64):
        x = L.Conv2D(f, 3, padding="same")(x)
        x = L.PReLU(shared_axes=[1, 2])(x)
        x = L.Conv2D(f, 3, strides=2, padding="same")(x)
        x = L.PReLU(alpha_initializer=keras.initializers.Constant(0.2))(x)
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dense(10)(x)
    out = L.Softmax(name="probs")(x)
    return keras.Model(inp, out, name="prelu_cnn")


def m_mobilenet_d2s():
    """MobileNetV2 trunk with a super-resolution style DEPTH_TO_SPACE head."""
    base = keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, include_top=False, weights=None)
    x = base.get_layer("block_6_expand_relu").output  # 12x12
    x = L.Conv2D(3 * 8 * 8, 3, padding="same")(x)
    x = L.Lambda(lambda t: tf.nn.depth_to_space(t, 8), name="depth_to_space")(x)
    out = L.Activation("sigmoid", name="image_out")(x)
    return keras.Model(base.input, out, name="mobilenet_d2s")


def m_space_batch():
    """SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND kept as ops (a sigmoid between them and the conv stops the
    converter's dilated-conv fusion): 2-D with paddings and crops, and 1-D on a sequence."""
    inp = L.Input((12, 10, 3), batch_size=1, name="image")
    x = L.Lambda(lambda t: tf.space_to_batch_nd(t, [2, 2], [[1, 1], [2, 0]]), name="s2b")(inp)   # 4x7x6x3
    x = L.Conv2D(8, 3, padding="same")(x)
    x = L.Activation("sigmoid")(x)
    x = L.Lambda(lambda t: tf.batch_to_space(t, [2, 2], [[1, 1], [2, 0]]), name="b2s")(x)        # 1x12x10x8
    seq = L.Reshape((30, 32))(L.Conv2D(8, 1)(x))
    y = L.Lambda(lambda t: tf.space_to_batch_nd(t, [3], [[0, 0]]), name="s2b_1d")(seq)          # 3x10x32
    y = L.Conv1D(16, 3, padding="same", activation="tanh")(y)
    y = L.Lambda(lambda t: tf.batch_to_space(t, [3], [[1, 2]]), name="b2s_1d")(y)               # 1x27x16
    out = L.Dense(4, name="scores")(L.Flatten()(y))  # not a MEAN: int8 MEAN is not LiteRT-exact yet
    return keras.Model(inp, [L.Activation("linear", name="map")(x), out], name="space_batch")


def m_gather_nd():
    """GATHER_ND with constant index tuples into a feature map (K = 3, pixels' channel vectors), into
    its rows (K = 1) and one whole tuple (rank-1 indices), as detection heads pick anchors."""
    inp = L.Input((6, 6, 3), batch_size=1, name="image")
    x = L.Conv2D(8, 3, padding="same", activation="relu")(inp)
    picks = L.Lambda(lambda t: tf.gather_nd(t, [[0, 1, 2], [0, 3, 4], [0, 5, 0], [0, 2, 2]]), name="pick_pixels")(x)
    scores = L.Dense(4, name="scores")(L.Flatten()(picks))
    rows = L.Lambda(lambda t: tf.gather_nd(tf.reshape(t, [36, 8]), [[5], [17], [30]]), name="pick_rows")(x)
    one = L.Lambda(lambda t: tf.gather_nd(t, [0, 4, 1]), name="pick_one")(x)
    return keras.Model(inp, [scores, L.Activation("linear", name="rows")(rows), L.Activation("linear", name="one")(one)],
                       name="gather_nd")


def m_norm_stats():
    """The int8 statistics ops LiteRT computes in fixed point: MEAN over 144-, 36- and 9-pixel windows and
    over 6 channels (none a power of two), SQUARED_DIFFERENCE and RSQRT in a hand-written and in Keras' layer
    norm, and ABS."""
    inp = L.Input((12, 12, 3), batch_size=1, name="image")
    x = L.Conv2D(6, 3, padding="same", name="features")(inp)
    pooled = [L.Lambda(lambda t: tf.reduce_mean(t, axis=[1, 2], keepdims=True), name=f"mean_{n}")(
        L.Conv2D(6, 3, strides=s, padding="same")(x)) for n, s in (("144", 1), ("36", 2), ("9", 4))]
    stats = L.Add(name="pooled")(pooled)

    def layer_norm(t):
        mu = tf.reduce_mean(t, axis=-1, keepdims=True)
        var = tf.reduce_mean(tf.math.squared_difference(t, mu), axis=-1, keepdims=True)
        return (t - mu) * tf.math.rsqrt(var + 1e-3)

    normed = L.Lambda(layer_norm, name="layer_norm")(x)
    keras_normed = L.LayerNormalization(epsilon=1e-3, name="keras_layer_norm")(L.Conv2D(6, 1)(normed))
    mag = L.Lambda(lambda t: tf.reduce_mean(tf.abs(t), axis=[1, 2]), name="abs_mean")(keras_normed)
    scaled = L.Multiply(name="scaled")([keras_normed, stats])
    return keras.Model(inp, [L.Activation("linear", name="normed")(normed), scaled,
                             L.Activation("linear", name="magnitude")(mag)], name="norm_stats")


# name -> (builder, sparse pruning style or None)
MODELS = {
    "mobilenet_v1": (m_mobilenet_v1, "unstructured"),
    "mobilenet_v2": (m_mobilenet_v2, None),
    "mobilenet_v3_small": (m_mobilenet_v3_small, None),
    "mobilenet_v3_large": (m_mobilenet_v3_large, None),
    "efficientnet_b0": (m_efficientnet_b0, None),
    "resnet50": (m_resnet50, None),
    "densenet121": (m_densenet121, None),
    "ssd_detector": (m_ssd_detector, None),
    "unet": (m_unet, None),
    "deeplab": (m_deeplab, None),
    "audio_conv1d": (m_audio_conv1d, "unstructured"),
    "gru": (m_gru, None),
    "gru_unrolled": (m_gru_unrolled, None),
    "lstm": (m_lstm, None),
    "transformer": (m_transformer, "block1x4"),
    "prelu_cnn": (m_prelu_cnn, None),
    "mobilenet_d2s": (m_mobilenet_d2s, None),
    "space_batch": (m_space_batch, None),
    "gather_nd": (m_gather_nd, None),
    "norm_stats": (m_norm_stats, None),
}


def seed_of(name):
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def build_model(name):
    tf.keras.utils.set_random_seed(0)
    try:
        tf.config.experimental.enable_op_determinism()
    except Exception:
        pass
    model = MODELS[name][0]()
    # BatchNormalization at init is the identity; give it fixed-seed statistics so the
    # folded scales and shifts are not trivial.
    rng = np.random.default_rng(seed_of(name) + 7)
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            gamma, beta, mean, var = [w.shape for w in layer.get_weights()]
            layer.set_weights([rng.uniform(0.7, 1.3, gamma).astype(np.float32),
                               rng.normal(0, 0.1, beta).astype(np.float32),
                               rng.normal(0, 0.1, mean).astype(np.float32),
                               rng.uniform(0.7, 1.3, var).astype(np.float32)])
    return model


def prune(model, style, fraction=0.8):
    """Zero `fraction` of every Conv/Dense kernel by magnitude (in place)."""
    pruned = 0
    for layer in model.layers:
        sub = [layer]
        if isinstance(layer, L.MultiHeadAttention):
            sub = [layer._query_dense, layer._key_dense, layer._value_dense, layer._output_dense]
        for lay in sub:
            if not isinstance(lay, (L.Conv1D, L.Conv2D, L.Dense, L.EinsumDense)) or isinstance(lay, L.DepthwiseConv2D):
                continue
            ws = lay.get_weights()
            k = ws[0]
            if style == "block1x4" and k.shape[0] % 4 == 0:
                # Dense/EinsumDense kernels are [in, ...]: blocks of 4 consecutive inputs
                # for one output (TFLite's [out, in] 1x4 blocks) share one magnitude
                blocks = k.reshape(k.shape[0] // 4, 4, -1).copy()
                mag = np.abs(blocks).sum(1)
                thr = np.quantile(mag, fraction)
                blocks[:, :, :][np.broadcast_to((mag <= thr)[:, None, :], blocks.shape)] = 0
                k = blocks.reshape(k.shape)
            else:
                thr = np.quantile(np.abs(k), fraction)
                k = np.where(np.abs(k) <= thr, 0, k).astype(k.dtype)
            ws[0] = k
            lay.set_weights(ws)
            pruned += 1
    return pruned


# ----------------------------------------------------------------------------- data
def make_sample(spec, rng):
    """A float (or int token) feed for one Keras input spec."""
    shape, dtype = spec
    if np.issubdtype(dtype, np.integer):
        return rng.integers(0, VOCAB if len(shape) == 2 else 8, size=shape).astype(dtype)
    return rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)


def input_specs(model):
    return [(tuple(1 if d is None else d for d in t.shape), np.dtype(t.dtype.as_numpy_dtype)) for t in model.inputs]


def representative(specs, name, n=8):
    def gen():
        rng = np.random.default_rng(seed_of(name) + 1)
        for _ in range(n):
            yield [make_sample(s, rng) for s in specs]
    return gen


def convert(model, flavour, specs, name):
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if flavour == "float16":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    elif flavour == "dynamic_int8":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    elif flavour == "int8":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = representative(specs, name)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    elif flavour == "sparse":
        conv.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
    return conv.convert()


# ----------------------------------------------------------------------------- flatbuffer
_OPNAMES = None


def analyse(buf):
    """Op histogram, subgraph count and sparse tensors of a .tflite flatbuffer."""
    from tensorflow.lite.python import schema_py_generated as fb
    global _OPNAMES
    if _OPNAMES is None:
        _OPNAMES = {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}
    m = fb.Model.GetRootAsModel(buf, 0)
    codes = []
    for i in range(m.OperatorCodesLength()):
        oc = m.OperatorCodes(i)
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        nm = _OPNAMES.get(code, f"BUILTIN_{code}")
        if nm == "CUSTOM":
            nm = "CUSTOM:" + (oc.CustomCode() or b"?").decode()
        codes.append(nm)
    hist, sparse, tensor_types = {}, [], {}
    types = {v: k for k, v in vars(fb.TensorType).items() if not k.startswith("_")}
    for s in range(m.SubgraphsLength()):
        g = m.Subgraphs(s)
        for i in range(g.OperatorsLength()):
            nm = codes[g.Operators(i).OpcodeIndex()]
            hist[nm] = hist.get(nm, 0) + 1
        for i in range(g.TensorsLength()):
            t = g.Tensors(i)
            tt = types.get(t.Type(), str(t.Type()))
            tensor_types[tt] = tensor_types.get(tt, 0) + 1
            sp = t.Sparsity()
            if sp is not None:
                fmt = []
                for d in range(sp.DimMetadataLength()):
                    dm = sp.DimMetadata(d)
                    fmt.append(f"dense({dm.DenseSize()})" if dm.Format() == 0 else "sparse_csr")
                sparse.append({"subgraph": s, "tensor": (t.Name() or b"").decode(),
                               "shape": [int(v) for v in t.ShapeAsNumpy()] if t.ShapeLength() else [],
                               "traversal_order": [int(v) for v in sp.TraversalOrderAsNumpy()] if sp.TraversalOrderLength() else [],
                               "block_map": [int(v) for v in sp.BlockMapAsNumpy()] if sp.BlockMapLength() else [],
                               "dim_formats": fmt})
    return {"ops": dict(sorted(hist.items())), "subgraphs": m.SubgraphsLength(),
            "tensor_types": dict(sorted(tensor_types.items())), "sparse_tensors": sparse}


# ----------------------------------------------------------------------------- entries
# Data-movement ops whose later versions only add element types that the version-1 reference kernel
# already handles: a model using them is read by the reference resolver with the version lowered to 1.
VERSION_ONLY_ADDS_TYPES = {"DEPTH_TO_SPACE", "SPACE_TO_DEPTH"}


def with_op_version_one(model_path, op_name):
    """A copy of the model whose `op_name` operator codes say version 1 (nothing else changes)."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils
    model = flatbuffer_utils.read_model(model_path)
    code = getattr(schema.BuiltinOperator, op_name)
    for oc in model.operatorCodes:
        if max(oc.builtinCode, oc.deprecatedBuiltinCode) == code:
            oc.version = 1
    out = model_path + f".{op_name.lower()}_v1.tflite"
    flatbuffer_utils.write_model(model, out)
    return out


def interpreter(model_path):
    """LiteRT with its reference kernels; where the reference resolver lacks an op
    version, the builtin kernels without delegates (no XNNPACK), said in meta.json."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    try:
        it = Interpreter(model_path=model_path, experimental_op_resolver_type=OpResolverType.BUILTIN_REF, num_threads=1)
        it.allocate_tensors()
        return it, "BUILTIN_REF", None
    except (ValueError, RuntimeError) as e:
        why = str(e).strip().splitlines()[0]
        if "Didn't find op" not in why:
            raise
    missing = re.search(r"opcode '(\w+)' version", why)
    if missing and missing.group(1) in VERSION_ONLY_ADDS_TYPES:
        lowered = with_op_version_one(model_path, missing.group(1))
        try:
            it = Interpreter(model_path=lowered, experimental_op_resolver_type=OpResolverType.BUILTIN_REF, num_threads=1)
            it.allocate_tensors()
            return it, "BUILTIN_REF", f"{missing.group(1)} read as version 1 ({why})"
        except (ValueError, RuntimeError):
            pass
        finally:
            os.remove(lowered)
    it = Interpreter(model_path=model_path, num_threads=1,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    return it, "BUILTIN_WITHOUT_DEFAULT_DELEGATES", "BUILTIN_REF: " + why


def reference(model_path, floats, out_dir, in_dir):
    it, kernels, why = interpreter(model_path)
    ins, outs = [], []
    for k, d in enumerate(it.get_input_details()):
        x = floats[k]
        dt = np.dtype(d["dtype"])
        scale, zp = d["quantization"]
        if x.dtype == np.float32 and dt != np.float32:
            if dt.kind in "iu" and scale:
                info = np.iinfo(dt)
                x = np.clip(np.round(x / scale) + zp, info.min, info.max).astype(dt)
            else:
                x = x.astype(dt)
        x = x.reshape(d["shape"])
        np.save(os.path.join(in_dir, f"{k:02d}.npy"), x)
        it.set_tensor(d["index"], x)
        ins.append({"index": k, "name": d["name"], "dtype": dt.name, "shape": [int(v) for v in d["shape"]],
                    "quantization": [float(scale), int(zp)], "file": f"inputs/{k:02d}.npy"})
    t0 = time.time()
    it.invoke()
    ref_s = time.time() - t0
    for k, d in enumerate(it.get_output_details()):
        y = it.get_tensor(d["index"])
        np.save(os.path.join(out_dir, f"{k:02d}.npy"), y)
        yf = y.astype(np.float64)
        outs.append({"index": k, "name": d["name"], "dtype": np.dtype(d["dtype"]).name,
                     "shape": [int(v) for v in d["shape"]],
                     "quantization": [float(d["quantization"][0]), int(d["quantization"][1])],
                     "file": f"outputs/{k:02d}.npy",
                     "stats": {"min": float(yf.min()), "max": float(yf.max()), "mean_abs": float(np.abs(yf).mean())}})
    return ins, outs, ref_s, kernels, why


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def build_entry(name, flavour, model, specs):
    d = os.path.join(CACHE, name, flavour)
    import shutil
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "inputs"), exist_ok=True)
    os.makedirs(os.path.join(d, "outputs"), exist_ok=True)
    meta = {"model": name, "flavour": flavour, "keras_params": int(model.count_params()),
            "seed": 0, "input_seed": seed_of(name), "tensorflow": tf.__version__}
    if flavour == "sparse":
        meta["pruned_layers"] = prune(model, MODELS[name][1])
        meta["pruning"] = {"fraction": 0.8, "style": MODELS[name][1]}
    # The converter and the interpreter can crash the process (a WHILE model's int8
    # calibration segfaults); the partial meta tells the driver what was being done.
    write_json(os.path.join(d, PARTIAL), dict(meta, stage="converting"))
    t0 = time.time()
    try:
        buf = convert(model, flavour, specs, name)
    except Exception as e:  # noqa: BLE001 - any converter failure is recorded
        meta["conversion_error"] = f"{type(e).__name__}: {e}".strip()
        meta["convert_seconds"] = round(time.time() - t0, 1)
        write_json(os.path.join(d, "meta.json"), meta)
        os.remove(os.path.join(d, PARTIAL))
        return meta
    meta["convert_seconds"] = round(time.time() - t0, 1)
    path = os.path.join(d, "model.tflite")
    with open(path, "wb") as f:
        f.write(buf)
    meta["file_bytes"] = len(buf)
    meta.update(analyse(buf))
    rng = np.random.default_rng(seed_of(name))
    floats = [make_sample(s, rng) for s in specs]
    write_json(os.path.join(d, PARTIAL), dict(meta, stage="running the reference kernels"))
    try:
        meta["inputs"], meta["outputs"], meta["reference_seconds"], meta["reference_kernels"], why = reference(
            path, floats, os.path.join(d, "outputs"), os.path.join(d, "inputs"))
        if why:
            meta["reference_fallback_reason" if meta["reference_kernels"] != "BUILTIN_REF" else "reference_note"] = why
    except Exception as e:  # noqa: BLE001
        meta["reference_error"] = f"{type(e).__name__}: {e}".strip()
    write_json(os.path.join(d, "meta.json"), meta)
    os.remove(os.path.join(d, PARTIAL))
    return meta


def record_crash(name, flavour, rc):
    """The worker died building this entry: keep what it was doing as the entry's error."""
    import signal
    d = os.path.join(CACHE, name, flavour)
    why = f"signal {signal.Signals(-rc).name}" if rc < 0 else f"exit status {rc}"
    try:
        with open(os.path.join(d, PARTIAL)) as f:
            meta = json.load(f)
    except (OSError, ValueError):
        meta = {"model": name, "flavour": flavour, "stage": "building the Keras model"}
    stage = meta.pop("stage")
    msg = f"process crashed ({why}) while {stage}"
    meta["reference_error" if stage.startswith("running") else "conversion_error"] = msg
    os.makedirs(d, exist_ok=True)
    write_json(os.path.join(d, "meta.json"), meta)
    if os.path.exists(os.path.join(d, PARTIAL)):
        os.remove(os.path.join(d, PARTIAL))
    return msg


def flavours_of(name, wanted):
    return [f for f in FLAVOURS if f in wanted and (f != "sparse" or MODELS[name][1])]


def status(name, flavour):
    p = os.path.join(CACHE, name, flavour, "meta.json")
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return json.load(f)


def write_ops_tsv():
    rows = []
    for name in sorted(os.listdir(CACHE)) if os.path.isdir(CACHE) else []:
        for flavour in FLAVOURS:
            meta = status(name, flavour)
            if meta and "ops" in meta:
                for op, n in meta["ops"].items():
                    rows.append((name, flavour, op, n))
    with open(os.path.join(CACHE, "ops.tsv"), "w") as f:
        f.write("model\tflavour\top\tcount\n")
        for r in rows:
            f.write("\t".join(map(str, r)) + "\n")
    entries, totals = {}, {}
    for name, flavour, op, n in rows:
        entries.setdefault(op, set()).add((name, flavour))
        totals[op] = totals.get(op, 0) + n
    n_entries = len({(r[0], r[1]) for r in rows})
    lines = [f"TFLite builtin ops across {n_entries} converted entries (entries using the op, total op count, models):"]
    for op in sorted(entries, key=lambda o: (-len(entries[o]), o)):
        models = sorted({m for m, _ in entries[op]})
        lines.append(f"  {op:32s} {len(entries[op]):3d} entries {totals[op]:6d} ops  {','.join(models)}")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(CACHE, "ops_summary.txt"), "w") as f:
        f.write(text)
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", help="comma-separated model names")
    ap.add_argument("--flavours", default=",".join(FLAVOURS), help="comma-separated, default all: " + ",".join(FLAVOURS))
    ap.add_argument("--force", action="store_true", help="rebuild entries that exist")
    ap.add_argument("--list", action="store_true", help="list models, flavours and what is built")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # build exactly these, in-process
    a = ap.parse_args()
    names = list(MODELS) if not a.only else [n.strip() for n in a.only.split(",") if n.strip()]
    wanted = [f.strip() for f in a.flavours.split(",") if f.strip()]
    for n in names:
        if n not in MODELS:
            sys.exit(f"zoo: unknown model {n!r}; models: {', '.join(MODELS)}")
    for f in wanted:
        if f not in FLAVOURS:
            sys.exit(f"zoo: unknown flavour {f!r}; flavours: {', '.join(FLAVOURS)}")
    if a.list:
        for n in names:
            cells = []
            for f in flavours_of(n, wanted):
                m = status(n, f)
                cells.append(f"{f}:" + ("-" if m is None else "error" if "conversion_error" in m else "built"))
            print(f"{n:20s} " + " ".join(cells))
        return 0

    ensure_venv()
    if not a.worker:
        # One worker process per model, so that a converter crash costs one entry only.
        os.makedirs(CACHE, exist_ok=True)
        t_all = time.time()
        for n in names:
            todo = [f for f in flavours_of(n, wanted) if a.force or status(n, f) is None]
            if not todo:
                print(f"{n}: built already ({', '.join(flavours_of(n, wanted))})", flush=True)
                continue
            for f in todo:
                if os.path.exists(os.path.join(CACHE, n, f, "meta.json")):
                    os.remove(os.path.join(CACHE, n, f, "meta.json"))
            while todo:
                rc = subprocess.call([sys.executable, os.path.abspath(__file__), "--worker", "--only", n,
                                      "--flavours", ",".join(todo)])
                done = [f for f in todo if status(n, f) is not None and not os.path.exists(os.path.join(CACHE, n, f, PARTIAL))]
                left = [f for f in todo if f not in done]
                if rc == 0 or not left:
                    break
                msg = record_crash(n, left[0], rc)
                print(f"  {left[0]:13s} {msg}", flush=True)
                todo = left[1:]
        print(f"zoo: {time.time() - t_all:.0f}s", flush=True)
        print(write_ops_tsv(), end="")
        return 0

    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("PYTHONHASHSEED", "0")
    global tf, keras, L, np
    import numpy
    np = numpy
    import tensorflow
    tf = tensorflow
    tf.get_logger().setLevel("ERROR")
    keras = tf.keras
    L = keras.layers
    import absl.logging
    absl.logging.set_verbosity(absl.logging.ERROR)

    os.makedirs(CACHE, exist_ok=True)
    t_all = time.time()
    for n in names:
        todo = flavours_of(n, wanted)
        t0 = time.time()
        model = build_model(n)
        specs = input_specs(model)
        print(f"{n}: {model.count_params():,} params, inputs {[s[0] for s in specs]}", flush=True)
        for f in todo:  # "sparse" is last in FLAVOURS: pruning changes the model in place
            t1 = time.time()
            meta = build_entry(n, f, model, specs)
            if "conversion_error" in meta:
                first = meta["conversion_error"].splitlines()[0][:200]
                print(f"  {f:13s} conversion failed ({time.time() - t1:.0f}s): {first}", flush=True)
                continue
            ops = sum(meta["ops"].values())
            extra = f", {len(meta['sparse_tensors'])} sparse tensors" if f == "sparse" else ""
            ref = ("ref ok" if meta.get("reference_kernels") == "BUILTIN_REF" else
                   f"ref with {meta.get('reference_kernels')} ({meta.get('reference_fallback_reason', '')[:90]})")
            ref = ref if "reference_error" not in meta else "REFERENCE FAILED: " + meta["reference_error"].splitlines()[0][:160]
            print(f"  {f:13s} {meta['file_bytes'] / 1e6:7.2f} MB, {ops} ops in {meta['subgraphs']} subgraph(s){extra}, "
                  f"{ref} ({time.time() - t1:.0f}s)", flush=True)
        tf.keras.backend.clear_session()
        print(f"  done in {time.time() - t0:.0f}s", flush=True)
    return 0


np = None

if __name__ == "__main__":
    sys.exit(main())
