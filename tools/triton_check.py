#!/usr/bin/env python3
"""Drives a running emberd with the unchanged KServe/Triton HTTP client (tritonclient[http]).

    python3 tools/triton_check.py --url 127.0.0.1:8080 --model demo --input image=x.npy --expect orientation=y.npy

Checks: server live and ready, model ready, model metadata, and one inference each way — inputs
and outputs as binary tensor data (the client's default) and as JSON — against the expected
outputs (exact for integers, 1e-6 relative for floats). Exit 0 when all hold, 1 otherwise.
"""
import argparse
import sys

import numpy as np
import tritonclient.http as httpclient

from toolvenv import npy_feeds

DTYPES = {np.float32: "FP32", np.float16: "FP16", np.int8: "INT8", np.uint8: "UINT8",
          np.int32: "INT32", np.int64: "INT64", np.bool_: "BOOL"}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--url", required=True, help="HOST:PORT of emberd's --listen")
    p.add_argument("--model", required=True)
    p.add_argument("--input", action="append", default=[], help="NAME=file.npy")
    p.add_argument("--expect", action="append", default=[], help="NAME=file.npy")
    a = p.parse_args()
    inputs, expected = npy_feeds(a.input, "triton_check"), npy_feeds(a.expect, "triton_check")
    client = httpclient.InferenceServerClient(url=a.url)
    failures = []
    if not client.is_server_live():
        failures.append("server not live")
    if not client.is_server_ready():
        failures.append("server not ready")
    if not client.is_model_ready(a.model):
        failures.append(f"model {a.model} not ready")
    meta = client.get_model_metadata(a.model)
    if sorted(i["name"] for i in meta["inputs"]) != sorted(inputs):
        failures.append(f"metadata inputs {meta['inputs']} do not match {sorted(inputs)}")
    for binary in (True, False):
        request = []
        for name, value in inputs.items():
            i = httpclient.InferInput(name, list(value.shape), DTYPES[value.dtype.type])
            i.set_data_from_numpy(value, binary_data=binary)
            request.append(i)
        outputs = [httpclient.InferRequestedOutput(n, binary_data=binary) for n in expected]
        result = client.infer(a.model, request, outputs=outputs)
        for name, want in expected.items():
            got = result.as_numpy(name)
            if got is None or got.shape != want.shape or got.dtype != want.dtype:
                failures.append(f"{'binary' if binary else 'JSON'}: output {name}: got {None if got is None else (got.dtype, got.shape)}, "
                                f"want {(want.dtype, want.shape)}")
            elif np.issubdtype(want.dtype, np.floating):
                if not np.allclose(got, want, rtol=1e-6, atol=0):
                    failures.append(f"{'binary' if binary else 'JSON'}: output {name}: {got} != {want}")
            elif not np.array_equal(got, want):
                failures.append(f"{'binary' if binary else 'JSON'}: output {name}: {got} != {want}")
        params = result.get_response().get("parameters", {})
        if "variant" not in params:
            failures.append("the response carries no variant parameter")
    for f in failures:
        print("triton_check: FAIL:", f)
    if not failures:
        print(f"triton_check: OK: tritonclient {getattr(httpclient, '__version__', '')} live, ready, metadata, "
              "binary and JSON inference all match")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
