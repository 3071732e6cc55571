#!/usr/bin/env python3
"""GPU check, part 2: rerun an exported icl-lab forward graph on ONNX Runtime's CUDA provider.

    python3 scripts/gpu-check/run_gpu.py OUT_DIR [--tol 1e-3] [--no-torch] [--results FILE]

OUT_DIR is what `npm exec -- node scripts/gpu-check/export.ts OUT_DIR` wrote: model.onnx with its external-data
file(s), feeds.safetensors, cpu_outputs.safetensors (onnxruntime-node, CPU) and manifest.json. Needs numpy and
onnxruntime; torch is optional. Installs nothing.

Runs, each compared fetch by fetch with the onnxruntime-node CPU outputs (max|a - b| and max|a - b| / max|b|):
  ort-python-cpu      the exported model on onnxruntime (Python) CPUExecutionProvider: is the export faithful?
  ort-cuda            CUDAExecutionProvider with default options, as the project's `--device cuda` runs it
  ort-cuda-no-tf32    CUDAExecutionProvider with use_tf32=0 (strict float32 matmuls), where ORT accepts the option
and, as a cross-check independent of ONNX (GPT-2 models only; they do not change the exit code):
  ref-numpy-f64       a float64 numpy GPT-2 written from the Hugging Face definition, on the HF weights
  ref-torch-cuda      the same code on torch CUDA in float32, strict and with TF32 allowed

Tolerances. GPU runs must agree within --tol (default 1e-3) relative to max|cpu| per tensor. On Ampere and
Hopper (H100/H200), cuBLAS float32 matmuls may run in TF32 (10-bit mantissa, unit roundoff 2^-11 = 4.9e-4 per
operand), which ORT's CUDA provider allows by default: relative errors of a few 1e-4 are expected, 1e-3 leaves
room for them and still catches a wrong kernel (those give errors of order 1). CPU-against-CPU runs must agree
within 1e-4, the tolerance of the project's own float64 reference checks.

Exit status: 0 all ONNX Runtime runs agree (CUDA included); 1 an ONNX Runtime run disagrees (or the export is
unreadable); 2 CUDA could not be used (onnxruntime missing, no CUDAExecutionProvider, or it failed to start),
while what did run agreed. Everything is printed and written to OUT_DIR/results.json.
"""

import argparse
import json
import math
import os
import platform
import sys
import time
import traceback

import numpy as np

CPU_TOL = 1e-4
DEFAULT_TOL = 1e-3
MASKED_BIAS = -1e9  # as src/pipeline/models/attention-mask.ts

ST_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
             "U8": "u1", "BOOL": "?"}
FEED_DTYPES = {"float32": np.float32, "float64": np.float64, "int64": np.int64, "bool": np.bool_}


# --------------------------------------------------------------------------------------------------------------
# Files

def read_safetensors(path):
    """All tensors of a safetensors file as numpy arrays (a small reader: the safetensors package is optional)."""
    with open(path, "rb") as f:
        data = f.read()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        raw = data[base + start:base + end]
        if info["dtype"] == "BF16":
            bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = bits.view(np.float32)
        elif info["dtype"] in ST_DTYPES:
            arr = np.frombuffer(raw, dtype=ST_DTYPES[info["dtype"]])
        else:
            raise ValueError(f"{path}: tensor {name} has unsupported dtype {info['dtype']}")
        out[name] = arr.reshape(info["shape"]).copy()
    return out


def load_export(out_dir):
    with open(os.path.join(out_dir, "manifest.json")) as f:
        manifest = json.load(f)
    feeds_raw = read_safetensors(os.path.join(out_dir, manifest["feeds_file"]))
    feeds = {}
    for spec in manifest["feeds"]:
        arr = feeds_raw[spec["name"]].astype(FEED_DTYPES[spec["dtype"]])
        if list(arr.shape) != list(spec["shape"]):
            raise ValueError(f"feed {spec['name']} has shape {list(arr.shape)}, manifest says {spec['shape']}")
        feeds[spec["name"]] = arr
    cpu = read_safetensors(os.path.join(out_dir, manifest["outputs_file"]))
    for spec in manifest["fetches"]:
        if spec["name"] not in cpu or list(cpu[spec["name"]].shape) != list(spec["shape"]):
            raise ValueError(f"cpu_outputs.safetensors lacks {spec['name']} with shape {spec['shape']}")
    return manifest, feeds, cpu


# --------------------------------------------------------------------------------------------------------------
# Comparison

def number(x):
    x = float(x)
    return x if math.isfinite(x) else str(x)


def compare(fetch_names, ref, got, tol):
    """Per fetch: max|got - ref|, max|ref| and their ratio; ok when the ratio is within tol (NaN never is)."""
    rows = {}
    for name in fetch_names:
        a = np.asarray(got.get(name)) if name in got else None
        b = ref[name]
        if a is None or a.shape != b.shape:
            rows[name] = {"ok": False, "problem": f"shape {None if a is None else list(a.shape)}, expected {list(b.shape)}"}
            continue
        a64 = a.astype(np.float64)
        b64 = b.astype(np.float64)
        diff = float(np.max(np.abs(a64 - b64))) if b.size else 0.0
        if b.size and not np.all(np.isfinite(a64)):
            diff = float("nan")
        scale = float(np.max(np.abs(b64))) if b.size else 0.0
        rel = diff / scale if scale > 0 else (0.0 if diff == 0 else float("inf"))
        rows[name] = {"max_abs_ref": number(scale), "max_abs_diff": number(diff), "rel": number(rel), "ok": bool(rel <= tol)}
    return rows


def summarise(run, expect=None):
    """Status from the tolerance; `expect` is a tighter bound recorded for information (strict float32 runs)."""
    rows = run.get("fetches") or {}
    rels = [(r["rel"] if isinstance(r.get("rel"), float) else float("inf"), n) for n, r in rows.items()]
    if rels:
        worst, name = max(rels)
        run["worst"] = {"fetch": name, "rel": number(worst)}
        if expect is not None:
            run["strict_expectation"] = {"bound": expect, "met": bool(worst <= expect)}
    run["status"] = "ok" if rows and all(r["ok"] for r in rows.values()) else "mismatch"
    return run


def print_run(run):
    print(f"\n== {run['name']}: {run['what']}")
    for key in ("session_providers", "placement", "note"):
        if run.get(key):
            print(f"   {key.replace('_', ' ')}: {run[key]}")
    if run["status"] in ("skipped", "error", "unavailable"):
        print(f"   {run['status'].upper()}: {run.get('reason', '')}")
        return
    print(f"   tolerance {run['tolerance']:g} relative to max|cpu|; run took {run.get('seconds', 0):.3f} s"
          + ("" if run.get("repeat_identical") is None else f"; second run identical: {run['repeat_identical']}"))
    print(f"   {'fetch':<26}{'max|cpu|':>12}{'max abs diff':>14}{'rel':>12}  ok")
    for name, r in run["fetches"].items():
        if "problem" in r:
            print(f"   {name:<26}{r['problem']:>38}  NO")
            continue
        fmt = lambda v: f"{v:.3e}" if isinstance(v, float) else str(v)
        print(f"   {name:<26}{fmt(r['max_abs_ref']):>12}{fmt(r['max_abs_diff']):>14}{fmt(r['rel']):>12}  {'yes' if r['ok'] else 'NO'}")
    w = run.get("worst", {})
    e = run.get("strict_expectation")
    extra = "" if not e else f"; strict float32 expectation rel <= {e['bound']:g} {'met' if e['met'] else 'NOT met'}"
    print(f"   -> {run['status'].upper()} (worst: {w.get('fetch')} rel {w.get('rel')}{extra})")


# --------------------------------------------------------------------------------------------------------------
# ONNX Runtime

def placement_from_profile(path):
    """Which provider ran how many nodes, and which op types ran on the CPU, from an ORT profile file."""
    with open(path) as f:
        events = json.load(f)
    counts, cpu_ops = {}, {}
    for e in events:
        args = e.get("args") or {}
        if e.get("cat") != "Node" or "provider" not in args or not str(e.get("name", "")).endswith("_kernel_time"):
            continue
        counts[args["provider"]] = counts.get(args["provider"], 0) + 1
        if args["provider"] == "CPUExecutionProvider":
            op = args.get("op_name", "?")
            cpu_ops[op] = cpu_ops.get(op, 0) + 1
    return {"nodes_by_provider": counts, "cpu_op_types": cpu_ops}


def ort_run(ort, name, what, model_path, feeds, fetch_names, ref, tol, providers, out_dir, profile=False, expect=None):
    run = {"name": name, "what": what, "tolerance": tol, "kind": "onnxruntime",
           "providers_requested": [p if isinstance(p, str) else list(p) for p in providers]}
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    profile_file = None
    if profile:
        so.enable_profiling = True
        so.profile_file_prefix = os.path.join(out_dir, f"profile-{name}")
    try:
        sess = ort.InferenceSession(model_path, sess_options=so, providers=providers)
    except Exception as e:  # noqa: BLE001 - report whatever ORT says
        run.update(status="error", reason=f"session creation failed: {type(e).__name__}: {e}")
        return run
    run["session_providers"] = sess.get_providers()
    wanted = providers[0] if isinstance(providers[0], str) else providers[0][0]
    if run["session_providers"][0] != wanted:
        # The Python binding falls back to CPU with only a warning when a GPU provider fails to start.
        run.update(status="unavailable", reason=f"{wanted} did not start (session providers: {run['session_providers']}); "
                                               "see ONNX Runtime's warning above")
        return run
    try:
        t0 = time.perf_counter()
        first = sess.run(fetch_names, feeds)
        run["seconds"] = time.perf_counter() - t0
        second = sess.run(fetch_names, feeds)
    except Exception as e:  # noqa: BLE001
        run.update(status="error", reason=f"run failed: {type(e).__name__}: {e}")
        return run
    got = dict(zip(fetch_names, first))
    run["repeat_identical"] = all(np.array_equal(a, b, equal_nan=True) for a, b in zip(first, second))
    if profile:
        try:
            profile_file = sess.end_profiling()
            run["placement"] = placement_from_profile(profile_file)
        except Exception as e:  # noqa: BLE001 - placement is information only
            run["placement"] = f"could not read the profile: {type(e).__name__}: {e}"
        finally:
            if profile_file and os.path.exists(profile_file):
                os.remove(profile_file)
    run["fetches"] = compare(fetch_names, ref, got, tol)
    return summarise(run, expect)


def ort_checks(out_dir, manifest, feeds, cpu, tol, info):
    runs = []
    try:
        import onnxruntime as ort
    except Exception as e:  # noqa: BLE001
        info["onnxruntime"] = f"not importable: {type(e).__name__}: {e}"
        print(f"onnxruntime: NOT IMPORTABLE ({e}); install onnxruntime-gpu to run this check")
        return runs, False
    available = ort.get_available_providers()
    device = ort.get_device() if hasattr(ort, "get_device") else "?"
    info["onnxruntime"] = {"version": ort.__version__, "available_providers": available, "device": device}
    print(f"onnxruntime {ort.__version__} (build device {device}), available providers: {available}")
    model_path = os.path.join(out_dir, manifest["onnx"]["file"])
    fetch_names = [f["name"] for f in manifest["fetches"]]

    runs.append(ort_run(ort, "ort-python-cpu", "the exported model on onnxruntime (Python) CPUExecutionProvider vs "
                        "onnxruntime-node CPU (is the export faithful?)", model_path, feeds, fetch_names, cpu, CPU_TOL,
                        ["CPUExecutionProvider"], out_dir))

    if "CUDAExecutionProvider" not in available:
        print("\nCUDAExecutionProvider is NOT available in this onnxruntime (the CPU-only 'onnxruntime' package? "
              "the GPU build is 'onnxruntime-gpu'). The CUDA comparison cannot run.")
        runs.append({"name": "ort-cuda", "what": "CUDAExecutionProvider", "status": "unavailable",
                     "reason": f"not among onnxruntime's available providers {available}"})
        return runs, False
    if hasattr(ort, "preload_dlls"):
        try:  # loads CUDA/cuDNN from the nvidia-* Python packages (e.g. torch's) where the system has none
            ort.preload_dlls()
        except Exception as e:  # noqa: BLE001
            print(f"onnxruntime.preload_dlls() failed ({e}); continuing with the system's libraries")
    cuda_ran = False
    for name, what, options, expect in (
        ("ort-cuda", "CUDAExecutionProvider, default options (TF32 allowed), as `--device cuda` runs it", {}, None),
        ("ort-cuda-no-tf32", "CUDAExecutionProvider with use_tf32=0 (strict float32 matmuls)", {"use_tf32": "0"}, CPU_TOL),
    ):
        run = ort_run(ort, name, what, model_path, feeds, fetch_names, cpu, tol,
                      [("CUDAExecutionProvider", options), "CPUExecutionProvider"], out_dir, profile=True, expect=expect)
        if name == "ort-cuda-no-tf32" and run["status"] == "error" and "use_tf32" in run.get("reason", ""):
            run.update(status="skipped", reason=f"this onnxruntime does not take use_tf32 ({run['reason']})")
        runs.append(run)
        cuda_ran = cuda_ran or run["status"] in ("ok", "mismatch")
    return runs, cuda_ran


# --------------------------------------------------------------------------------------------------------------
# Independent GPT-2 reference (numpy or torch), from the Hugging Face weights

class NumpyOps:
    def __init__(self, dtype):
        self.dtype = dtype

    def tensor(self, a):
        return np.asarray(a, dtype=self.dtype)

    def index(self, a):
        return np.asarray(a, dtype=np.int64)

    def permute(self, x, perm):
        return np.transpose(x, perm)

    def mean(self, x):
        return x.mean(axis=-1, keepdims=True)

    def amax(self, x):
        return x.max(axis=-1, keepdims=True)

    def sum(self, x):
        return x.sum(axis=-1, keepdims=True)

    def tanh(self, x):
        return np.tanh(x)

    def exp(self, x):
        return np.exp(x)

    def sqrt(self, x):
        return np.sqrt(x)

    def erf(self, x):
        return np.vectorize(math.erf, otypes=[x.dtype])(x)

    def numpy(self, x):
        return np.asarray(x)


class TorchOps:
    def __init__(self, torch, device, dtype):
        self.torch, self.device, self.dtype = torch, device, dtype

    def tensor(self, a):
        return self.torch.as_tensor(np.ascontiguousarray(a, dtype=np.float64), device=self.device).to(self.dtype)

    def index(self, a):
        return self.torch.as_tensor(np.ascontiguousarray(a, dtype=np.int64), device=self.device)

    def permute(self, x, perm):
        return x.permute(*perm)

    def mean(self, x):
        return x.mean(dim=-1, keepdim=True)

    def amax(self, x):
        return x.amax(dim=-1, keepdim=True)

    def sum(self, x):
        return x.sum(dim=-1, keepdim=True)

    def tanh(self, x):
        return self.torch.tanh(x)

    def exp(self, x):
        return self.torch.exp(x)

    def sqrt(self, x):
        return self.torch.sqrt(x)

    def erf(self, x):
        return self.torch.erf(x)

    def numpy(self, x):
        return x.detach().cpu().numpy()


def load_hf_gpt2(out_dir, reference):
    with open(os.path.join(out_dir, reference["config"])) as f:
        cfg = json.load(f)
    raw = read_safetensors(os.path.join(out_dir, reference["weights"]))
    weights = {(k[len("transformer."):] if k.startswith("transformer.") else k): v for k, v in raw.items()}
    return cfg, weights


def gpt2_forward(ops, cfg, weights, feeds):
    """GPT-2 as Hugging Face defines it, with icl-lab's captures (README "Names") and its padding mask."""
    L, H, d = cfg["n_layer"], cfg["n_head"], cfg["n_embd"]
    hd = d // H
    eps = cfg.get("layer_norm_epsilon", 1e-5)
    act = cfg.get("activation_function", "gelu_new")
    if act not in ("gelu_new", "gelu_pytorch_tanh", "gelu_fast", "gelu"):
        raise ValueError(f"activation {act} not covered by this reference")
    ids, pos = feeds["input_ids"], feeds["position_ids"]
    key_mask = feeds["key_mask"].astype(bool)
    B, T = ids.shape
    K = key_mask.shape[1]
    causal = np.arange(K)[None, :] <= (np.arange(T) + (K - T))[:, None]  # [T, K]
    visible = causal[None] & key_mask[:, None, :]  # [B, T, K]
    bias = ops.tensor(np.where(visible, 0.0, MASKED_BIAS)[:, None])  # [B, 1, T, K]
    w = {k: ops.tensor(v) for k, v in weights.items() if not k.endswith(("attn.bias", "attn.masked_bias"))}
    split = {}
    for l in range(L):
        W, b = weights[f"h.{l}.attn.c_attn.weight"], weights[f"h.{l}.attn.c_attn.bias"]
        for i, p in enumerate("qkv"):
            split[(l, p)] = (ops.tensor(W[:, i * d:(i + 1) * d]), ops.tensor(b[i * d:(i + 1) * d]))

    def ln(x, name):
        mu = ops.mean(x)
        xc = x - mu
        return xc / ops.sqrt(ops.mean(xc * xc) + eps) * w[f"{name}.weight"] + w[f"{name}.bias"]

    def heads(v):
        return ops.permute(v.reshape(B, T, H, hd), (0, 2, 1, 3))

    out = {}
    x = w["wte.weight"][ops.index(ids)] + w["wpe.weight"][ops.index(pos)]
    for l in range(L):
        h = ln(x, f"h.{l}.ln_1")
        q = h @ split[(l, "q")][0] + split[(l, "q")][1]
        k = heads(h @ split[(l, "k")][0] + split[(l, "k")][1])
        v = heads(h @ split[(l, "v")][0] + split[(l, "v")][1])
        scale = 1 / math.sqrt(hd) if cfg.get("scale_attn_weights", True) else 1.0
        if cfg.get("scale_attn_by_inverse_layer_idx", False):
            scale /= l + 1
        scores = heads(q * scale) @ ops.permute(k, (0, 1, 3, 2))
        s = scores + bias
        e = ops.exp(s - ops.amax(s))
        probs = e / ops.sum(e)
        context = ops.permute(probs @ v, (0, 2, 1, 3)).reshape(B, T, d)
        attn_out = context @ w[f"h.{l}.attn.c_proj.weight"] + w[f"h.{l}.attn.c_proj.bias"]
        x = x + attn_out
        a = ln(x, f"h.{l}.ln_2") @ w[f"h.{l}.mlp.c_fc.weight"] + w[f"h.{l}.mlp.c_fc.bias"]
        if act == "gelu":
            g = 0.5 * a * (1 + ops.erf(a * (1 / math.sqrt(2))))
        else:
            g = 0.5 * a * (1 + ops.tanh(math.sqrt(2 / math.pi) * (a + 0.044715 * a * a * a)))
        x = x + (g @ w[f"h.{l}.mlp.c_proj.weight"] + w[f"h.{l}.mlp.c_proj.bias"])
        for kind, val in (("attn.q", q), ("attn.scores", scores), ("attn.out", attn_out), ("resid_post", x)):
            out[f"blocks.{l}.{kind}"] = val
    tied = cfg.get("tie_word_embeddings", True) or "lm_head.weight" not in w
    unembed = w["wte.weight"] if tied else w["lm_head.weight"]
    out["logits"] = ln(x, "ln_f") @ ops.permute(unembed, (1, 0))
    return {k: ops.numpy(v) for k, v in out.items()}


def reference_run(name, what, tol, forward, expect=None):
    run = {"name": name, "what": what, "tolerance": tol, "kind": "reference"}
    try:
        t0 = time.perf_counter()
        got, fetch_names, cpu, note = forward()
        run["seconds"] = time.perf_counter() - t0
        if note:
            run["note"] = note
    except Exception as e:  # noqa: BLE001 - the cross-check never stops the script
        run.update(status="error", reason=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())
        return run
    run["fetches"] = compare(fetch_names, cpu, got, tol)
    return summarise(run, expect)


def reference_checks(out_dir, manifest, feeds, cpu, tol, use_torch, info):
    ref = manifest.get("reference")
    if not ref or manifest["model"].get("model_type") != "gpt2":
        return [{"name": "ref", "what": "independent GPT-2 reference", "status": "skipped",
                 "reason": "the export has no Hugging Face GPT-2 weights (the reference covers GPT-2 only)"}]
    cfg, weights = load_hf_gpt2(out_dir, ref)
    fetch_names = [f["name"] for f in manifest["fetches"]]
    runs = [reference_run("ref-numpy-f64", "float64 numpy GPT-2 from the HF weights vs onnxruntime-node CPU", CPU_TOL,
                          lambda: (gpt2_forward(NumpyOps(np.float64), cfg, weights, feeds), fetch_names, cpu, None))]
    if not use_torch:
        return runs
    try:
        import torch
    except Exception as e:  # noqa: BLE001
        info["torch"] = f"not importable: {e}"
        runs.append({"name": "ref-torch-cuda", "what": "torch CUDA", "status": "skipped", "reason": f"torch: {e}"})
        return runs
    cuda = torch.cuda.is_available()
    info["torch"] = {"version": torch.__version__, "cuda": torch.version.cuda, "cuda_available": cuda,
                     "device": torch.cuda.get_device_name(0) if cuda else None}
    print(f"torch {torch.__version__} (CUDA {torch.version.cuda}), cuda available: {cuda}"
          + (f", device {info['torch']['device']}" if cuda else ""))
    if not cuda:
        runs.append({"name": "ref-torch-cuda", "what": "torch CUDA", "status": "skipped", "reason": "torch sees no CUDA device"})
        return runs
    for name, precision, what, expect in (("ref-torch-cuda", "highest", "strict float32", CPU_TOL),
                                          ("ref-torch-cuda-tf32", "high", "TF32 matmuls allowed", None)):
        def forward(precision=precision):
            torch.set_float32_matmul_precision(precision)
            with torch.no_grad():
                got = gpt2_forward(TorchOps(torch, "cuda", torch.float32), cfg, weights, feeds)
            torch.cuda.synchronize()
            return got, fetch_names, cpu, f"torch.get_float32_matmul_precision() = {torch.get_float32_matmul_precision()}"
        runs.append(reference_run(name, f"the same GPT-2 on torch CUDA float32, {what}, vs onnxruntime-node CPU", tol,
                                  forward, expect))
    return runs


# --------------------------------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", help="folder written by scripts/gpu-check/export.ts")
    parser.add_argument("--tol", type=float, default=DEFAULT_TOL, help="relative tolerance of GPU runs (default 1e-3)")
    parser.add_argument("--no-torch", action="store_true", help="skip the torch cross-check")
    parser.add_argument("--results", help="where to write results.json (default OUT_DIR/results.json)")
    args = parser.parse_args()
    out_dir = args.out_dir
    info = {"python": sys.version.split()[0], "numpy": np.__version__, "platform": platform.platform()}
    print(f"icl-lab GPU check: python {info['python']}, numpy {info['numpy']}, {info['platform']}")
    try:
        manifest, feeds, cpu = load_export(out_dir)
    except Exception as e:  # noqa: BLE001
        print(f"cannot read the export in {out_dir}: {type(e).__name__}: {e}")
        return 1
    m = manifest["model"]
    print(f"model {m['id']} ({m['family']}, {m['layers']} layers, d={m['d_model']}), weights {m.get('weights_hash')}; "
          f"feeds {', '.join(spec['name'] + str(spec['shape']) for spec in manifest['feeds'])}; {len(manifest['fetches'])} fetches; "
          f"CPU outputs from onnxruntime-node {manifest['producer']['onnxruntime_node']}")

    ort_runs, cuda_ran = ort_checks(out_dir, manifest, feeds, cpu, args.tol, info)
    try:
        ref_runs = reference_checks(out_dir, manifest, feeds, cpu, args.tol, not args.no_torch, info)
    except Exception as e:  # noqa: BLE001 - the cross-check never costs the ONNX Runtime results
        ref_runs = [{"name": "ref", "what": "independent GPT-2 reference", "status": "error",
                     "reason": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}]
    for run in ort_runs + ref_runs:
        print_run(run)

    ort_bad = [r["name"] for r in ort_runs if r["status"] == "mismatch"
               or (r["name"] == "ort-python-cpu" and r["status"] != "ok")]
    if ort_bad:
        code, verdict = 1, f"MISMATCH in {', '.join(ort_bad)}"
    elif not cuda_ran:
        reasons = [f"{r['name']}: {r.get('reason', r['status'])}" for r in ort_runs if r["name"].startswith("ort-cuda")]
        code, verdict = 2, "CUDA PROVIDER UNAVAILABLE: " + ("; ".join(reasons) or "onnxruntime is not importable")
    else:
        code, verdict = 0, "OK: every ONNX Runtime CUDA run agrees with onnxruntime-node CPU"
    ref_state = ", ".join(f"{r['name']} {r['status']}" for r in ref_runs)
    results = {"tolerance": args.tol, "cpu_tolerance": CPU_TOL, "environment": info,
               "model": manifest["model"], "onnx_sha256": manifest["onnx"]["sha256"],
               "runs": ort_runs + ref_runs, "exit_code": code, "verdict": verdict,
               "reference_verdict": ref_state}
    results_path = args.results or os.path.join(out_dir, "results.json")
    with open(results_path, "w") as f:
        json.dump(results, f, indent=1)
    print(f"\nreference cross-check (does not change the exit status): {ref_state}")
    print(f"VERDICT: {verdict} (exit {code}); details in {results_path}")
    return code


if __name__ == "__main__":
    sys.exit(main())
