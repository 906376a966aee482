#!/usr/bin/env python3
"""Writes TFLite's own int8 outputs for seeded random int8 inputs, so that the
Rust tests can check `vigie import` bit for bit without Python:

    python bench/tflite_reference.py models/mlperf-tiny/ad01_int8.tflite

writes `models/mlperf-tiny/ad01_int8.ref` beside the model: 100 records, each
the input tensor's int8 bytes then the output tensor's (batch 1, TFLite's
row-major order). Inputs are uniform over all 256 int8 values, drawn by
numpy's PCG64 from seed 7. The interpreter runs TFLite's reference kernels
(`OpResolverType.BUILTIN_REF`), the ones TFLM's are ported from.

Which interpreter: `tflite-runtime` 2.14.0. Its requantization rounds twice
(a rounding doubling high multiply, then a rounding shift), as TFLM and
CMSIS-NN do by default and as vigie does. `ai-edge-litert` 2.3.0 (LiteRT)
is built with `TFLITE_SINGLE_ROUNDING` (one rounding shift of the 64-bit
product): replaying each layer of MLPerf Tiny's autoencoder from LiteRT's
own inputs, 58 of 5 × 10 layers' outputs differ by one step from double
rounding and none from single rounding; with tflite-runtime it is the other
way round (66 and 0). Those one-step differences then cascade through the
layers (19,039 of 64,000 autoencoder outputs differ at the end), so the
expected outputs come from the interpreter whose arithmetic is TFLM's.

With `--generated`, the inputs come instead from a 32-bit xorshift
(`xorshift_inputs`, seed 0x9E3779B9, the top byte of each state), which the
Rust tests regenerate, and only the outputs are written (`*.out`): for a
model whose input is large (visual wake words: 27,648 values), 100 records
of inputs would be 2.7 MB.

With `experimental_preserve_all_tensors`, an operator's output is still
overwritten when the next operator works in place: TFLite 2.14 computes
ADD in the buffer of one of its inputs, so the CRC recorded for the
convolution that a ResNet ADD reads is the ADD's own
(`tests/tests/tflite_import.rs` checks that they are equal and checks
those convolutions through the ADD).

Requirements: bench/requirements-tflite.txt (tflite-runtime has wheels up to
Python 3.11).
"""

import sys
import zlib
from pathlib import Path

import numpy as np
import tflite_runtime.interpreter as tfl

RECORDS = 100
SEED = 7
# With --generated, also the CRC-32 of every operator's output for the
# first LAYER_RECORDS inputs (`*.crc`: per record, one little-endian u32 per
# operator in execution order), so that a test pins each layer.
LAYER_RECORDS = 20
XORSHIFT_SEED = 0x9E3779B9


def xorshift_inputs(n, state=XORSHIFT_SEED):
    """`n` int8 values: the top byte of each state of a 32-bit xorshift
    (13, 17, 5), and the state after them."""
    out = np.empty(n, dtype=np.int8)
    for i in range(n):
        state ^= (state << 13) & 0xFFFFFFFF
        state ^= state >> 17
        state ^= (state << 5) & 0xFFFFFFFF
        out[i] = np.int8(np.uint8(state >> 24))
    return out, state


def main():
    generated = "--generated" in sys.argv
    for path in (Path(a) for a in sys.argv[1:] if a != "--generated"):
        it = tfl.Interpreter(
            model_path=str(path),
            experimental_op_resolver_type=tfl.OpResolverType.BUILTIN_REF,
            experimental_preserve_all_tensors=generated,
        )
        it.allocate_tensors()
        (inp,) = it.get_input_details()
        (out,) = it.get_output_details()
        assert inp["dtype"] == np.int8 and out["dtype"] == np.int8, path
        rng = np.random.Generator(np.random.PCG64(SEED))
        records = []
        crcs = []
        ops = it._get_ops_details()
        state = XORSHIFT_SEED
        for _ in range(RECORDS):
            if generated:
                flat, state = xorshift_inputs(int(inp["shape"].prod()), state)
                x = flat.reshape(inp["shape"])
            else:
                x = rng.integers(-128, 128, size=inp["shape"], dtype=np.int8)
            it.set_tensor(inp["index"], x)
            it.invoke()
            y = it.get_tensor(out["index"])
            records.append(y.tobytes() if generated else x.tobytes() + y.tobytes())
            if generated and len(crcs) < LAYER_RECORDS * len(ops):
                for op in ops:
                    t = it.get_tensor(op["outputs"][0])
                    crcs.append(zlib.crc32(t.tobytes()))
        ref = path.with_suffix(".out" if generated else ".ref")
        ref.write_bytes(b"".join(records))
        if crcs:
            path.with_suffix(".crc").write_bytes(
                b"".join(c.to_bytes(4, "little") for c in crcs)
            )
        print(f"{ref}: {RECORDS} records of {inp['shape'].prod()} + {out['shape'].prod()} bytes")


if __name__ == "__main__":
    main()
