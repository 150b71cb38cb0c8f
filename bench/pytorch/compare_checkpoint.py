#!/usr/bin/python3
"""PyTorch's own side of the gradrecomp comparison (issue 5, item 5).

Trains chain-shaped models (see models.py) on synthetic data with
  full    plain forward + backward, every activation cached;
  sqrt    torch.utils.checkpoint.checkpoint_sequential with segments = round(sqrt(N));
  every2  checkpoint_sequential with segments = N // 2 (two children per segment);
where N is the number of modules handed to checkpoint_sequential (all children of an image model,
whose input then requires grad as the reentrant checkpoint needs; all children but the token
embedding of a text model, whose integer input cannot require grad, so the embedding runs in front
of checkpoint_sequential and its output carries the grad).

Measured, never estimated:
  time    one process, strategies interleaved step by step (A B C, then C B A, ...), median over
          the steps after warm-up of forward+loss+backward+SGD step (wall clock, and the process's
          CPU time, which a shared machine's other load disturbs less); each also as the ratio over
          full caching's median from the same process.
  memory  one fresh process per strategy: after --warmup full training steps (parameters and
          gradients allocated; gradients zeroed in place, not freed), baseline = VmRSS; then for
          every measured step the kernel's RSS high-water mark is reset (/proc/self/clear_refs
          "5") and VmHWM read after the step. activation peak = max over steps of VmHWM - baseline.
          Plus the allocator tracker: one extra step under torch.profiler(profile_memory=True),
          peak of the running sum of c10 CPU allocations minus frees during that step.
  grads   bitwise comparison of every parameter gradient with full caching's, same batch and
          RNG seed (dropout masks are replayed by the checkpoint's preserved RNG state).

Run with Debian's python3-torch: /usr/bin/python3 bench/pytorch/compare_checkpoint.py --small
"""

import argparse
import gc
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time

sys.dont_write_bytecode = True   # keep __pycache__ out of the source tree

STRATEGIES = ("full", "sqrt", "every2")
DEFAULT_BATCH = {  # (full-size, small)
    "resnet152": (4, 8),
    "vit_b_16": (4, 8),
    "bert_large": (4, 8),
    "gpt2": (1, 8),
}
# glibc's malloc keeps freed chunks below its (dynamic, up to 32 MiB) mmap threshold in the heap,
# so RSS would not fall back after a step and the next step's growth would be hidden. A fixed
# threshold makes every tensor >= 64 KiB its own mmap, returned to the kernel on free.
FIXED_MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "131072"}


# ----------------------------------------------------------------------------------------------
# process memory


def _status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def rss_bytes():
    return _status_kib("VmRSS") * 1024


def hwm_bytes():
    return _status_kib("VmHWM") * 1024


def reset_hwm():
    """Resets VmHWM to the current RSS (Linux >= 4.0, clear_refs "5"); returns whether it worked."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return hwm_bytes() <= rss_bytes() + (1 << 20)


def loaded_libraries(pattern=r"blas|lapack|mkl|dnnl|openblas|gomp|iomp"):
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and re.search(pattern, os.path.basename(parts[-1])):
                libs.add(parts[-1])
    return sorted(libs)


# ----------------------------------------------------------------------------------------------
# training step


def segments_for(strategy, n):
    if strategy == "sqrt":
        return max(1, int(round(math.sqrt(n))))
    if strategy == "every2":
        return max(1, n // 2)
    return None


class Runner:
    def __init__(self, spec, batch, lr=1e-4):
        import torch
        self.torch = torch
        self.spec = spec
        self.model = spec.model
        self.model.train()
        self.children = list(self.model.children())
        # the part handed to checkpoint_sequential
        self.chain = self.children[1:] if spec.token_input else self.children
        self.opt = torch.optim.SGD(self.model.parameters(), lr=lr)
        gen = torch.Generator().manual_seed(1234)
        self.x, self.y = spec.make_batch(batch, gen)

    def forward_backward(self, strategy):
        from torch.utils.checkpoint import checkpoint_sequential
        x = self.x
        if strategy == "full":
            out = self.model(x)
        else:
            if self.spec.token_input:
                h = self.children[0](x)       # embedding output requires grad through its weights
            else:
                h = x.detach().requires_grad_(True)
            out = checkpoint_sequential(self.chain, segments_for(strategy, len(self.chain)), h)
        loss = self.spec.loss_fn(out, self.y)
        loss.backward()
        return loss.detach()

    def train_step(self, strategy):
        loss = self.forward_backward(strategy)
        self.opt.step()
        return loss

    def zero_grad(self):
        self.opt.zero_grad(set_to_none=False)   # keep the gradient buffers: part of the baseline


def describe_runtime(threads):
    import torch
    import torchvision
    return {
        "python": sys.version.split()[0],
        "python_executable": sys.executable,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "requested_threads": threads,
        "env_threads": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
        "malloc_env": {k: os.environ.get(k) for k in FIXED_MALLOC_ENV},
        "blas_libraries": loaded_libraries(),
        "torch_config": torch.__config__.show(),
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
    }


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _setup(args):
    import torch
    import models
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    spec = models.build(args.model, args.small, args.image, args.seq)
    return torch, spec


# ----------------------------------------------------------------------------------------------
# workers (each runs in its own process; prints one JSON line)


def worker_time(args):
    torch, spec = _setup(args)
    runner = Runner(spec, args.batch)
    # one untimed step: allocates the gradients and warms the kernels before the grad check
    runner.train_step("full")
    runner.zero_grad()
    result = {"runtime": describe_runtime(args.threads), "grad_check": {}}

    if args.grad_check:
        params = [p for p in spec.model.parameters()]
        reference = None
        for s in args.strategies:
            runner.zero_grad()
            torch.manual_seed(4321)             # same dropout masks for every strategy
            loss = runner.forward_backward(s)
            grads = [p.grad.detach().clone() for p in params]
            if reference is None:
                reference = (loss, grads)
                continue
            ref_loss, ref_grads = reference
            equal = all(torch.equal(a, b) for a, b in zip(grads, ref_grads))
            max_diff = max(float((a - b).abs().max()) for a, b in zip(grads, ref_grads))
            result["grad_check"][s] = {"bitwise_equal": equal, "max_abs_diff": max_diff,
                                       "loss_equal": bool(torch.equal(loss, ref_loss))}
            del grads
        del reference
        runner.zero_grad()

    times = {s: [] for s in args.strategies}
    cpu_times = {s: [] for s in args.strategies}
    losses = {s: [] for s in args.strategies}
    for i in range(args.warmup + args.steps):
        order = args.strategies if i % 2 == 0 else list(reversed(args.strategies))
        for s in order:
            c0, t0 = time.process_time(), time.perf_counter()
            loss = runner.train_step(s)
            t1, c1 = time.perf_counter(), time.process_time()
            runner.zero_grad()
            if i >= args.warmup:
                times[s].append(t1 - t0)
                cpu_times[s].append(c1 - c0)
                losses[s].append(float(loss))
    result["step_seconds"] = times
    result["step_cpu_seconds"] = cpu_times     # CPU time of the whole process (all threads)
    result["losses"] = losses
    return result


def worker_memory(args):
    torch, spec = _setup(args)
    s = args.strategy
    runner = Runner(spec, args.batch)
    for _ in range(max(1, args.warmup)):
        runner.train_step(s)
        runner.zero_grad()
    gc.collect()
    baseline = rss_bytes()
    resettable = reset_hwm()
    deltas = []
    for _ in range(args.steps if resettable else 0):
        reset_hwm()
        runner.train_step(s)
        deltas.append(hwm_bytes() - baseline)
        runner.zero_grad()
        gc.collect()
    result = {
        "strategy": s,
        "hwm_reset_supported": resettable,
        "baseline_rss_bytes": baseline,
        "rss_after_bytes": rss_bytes(),
        "step_activation_bytes": deltas,
        "activation_peak_bytes": max(deltas) if deltas else None,
    }
    if args.tracker:
        result["tracker_peak_bytes"] = tracker_peak(runner, s)
    return result


def tracker_peak(runner, strategy):
    """Peak of live c10 CPU allocations made during one training step (profile_memory events)."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        runner.train_step(strategy)
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    events.sort(key=lambda e: e.start_us())   # stable: ties keep recording order
    live = peak = 0
    for e in events:
        live += e.nbytes()
        peak = max(peak, live)
    runner.zero_grad()
    return peak


# ----------------------------------------------------------------------------------------------
# driver


def run_worker(args, kind, strategy=None, malloc="fixed"):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", kind, "--model", args.model,
           "--batch", str(args.batch), "--steps", str(args.steps), "--warmup", str(args.warmup),
           "--threads", str(args.threads), "--strategies", ",".join(args.strategies)]
    if args.small:
        cmd.append("--small")
    if args.image:
        cmd += ["--image", str(args.image)]
    if args.seq:
        cmd += ["--seq", str(args.seq)]
    if strategy:
        cmd += ["--strategy", strategy]
    if not args.grad_check:
        cmd.append("--no-grad-check")
    if not args.tracker:
        cmd.append("--no-tracker")
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(args.threads)
    env["OPENBLAS_NUM_THREADS"] = str(args.threads)
    for k in FIXED_MALLOC_ENV:
        env.pop(k, None)
    if malloc == "fixed":
        env.update(FIXED_MALLOC_ENV)
    t0 = time.time()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"worker {kind} {strategy or ''} for {args.model} failed "
                         f"(exit {proc.returncode}); command: {' '.join(cmd)}")
    lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
    result = json.loads(lines[-1])
    result["wall_seconds"] = time.time() - t0
    return result


def mib(n):
    return None if n is None else n / 2**20


def compare_model(args):
    import models
    report = {"model": args.model, "config": "small" if args.small else "full",
              "batch": args.batch, "steps": args.steps, "warmup": args.warmup,
              "threads": args.threads, "strategies": {}}
    timing = run_worker(args, "time") if args.timing else None
    memory = {}
    if args.memory:
        for s in args.strategies:
            memory[s] = run_worker(args, "memory", s, args.malloc)
    if timing:
        report["runtime"] = timing["runtime"]
        report["time_worker_wall_seconds"] = timing["wall_seconds"]
    # model facts (cheap to rebuild here without torch threads mattering)
    import torch
    torch.manual_seed(0)
    spec = models.build(args.model, args.small, args.image, args.seq)
    n_chain = spec.num_children - (1 if spec.token_input else 0)
    report.update({
        "params": spec.num_params, "reference_params": spec.reference_params,
        "params_match_reference": (spec.num_params == spec.reference_params
                                   if spec.reference_params else None),
        "param_bytes": sum(p.numel() * p.element_size() for p in spec.model.parameters()),
        "children": spec.num_children, "checkpointed_chain_length": n_chain,
        "token_input": spec.token_input, "input": spec.shape,
    })
    del spec
    full_time = full_cpu = full_mem = full_tracker = None
    for s in args.strategies:
        entry = {"segments": segments_for(s, n_chain)}
        if timing:
            ts = timing["step_seconds"][s]
            entry["step_seconds_median"] = statistics.median(ts)
            entry["step_seconds"] = ts
            cs = timing["step_cpu_seconds"][s]
            entry["step_cpu_seconds_median"] = statistics.median(cs)
            entry["step_cpu_seconds"] = cs
            if s in timing["grad_check"]:
                entry["grad_check"] = timing["grad_check"][s]
        if s in memory:
            m = memory[s]
            entry.update({k: m[k] for k in ("baseline_rss_bytes", "activation_peak_bytes",
                                            "step_activation_bytes", "hwm_reset_supported")})
            if "tracker_peak_bytes" in m:
                entry["tracker_peak_bytes"] = m["tracker_peak_bytes"]
            entry["memory_worker_wall_seconds"] = m["wall_seconds"]
        report["strategies"][s] = entry
        if s == "full":
            full_time = entry.get("step_seconds_median")
            full_cpu = entry.get("step_cpu_seconds_median")
            full_mem = entry.get("activation_peak_bytes")
            full_tracker = entry.get("tracker_peak_bytes")
    for s, entry in report["strategies"].items():
        if full_time and "step_seconds_median" in entry:
            entry["time_ratio_over_full"] = entry["step_seconds_median"] / full_time
        if full_cpu and "step_cpu_seconds_median" in entry:
            entry["cpu_time_ratio_over_full"] = entry["step_cpu_seconds_median"] / full_cpu
        if full_mem and entry.get("activation_peak_bytes") is not None:
            entry["activation_percent_of_full"] = 100.0 * entry["activation_peak_bytes"] / full_mem
        if full_tracker and entry.get("tracker_peak_bytes") is not None:
            entry["tracker_percent_of_full"] = 100.0 * entry["tracker_peak_bytes"] / full_tracker
    report["memory_malloc"] = args.malloc
    return report


def print_report(r, first):
    if first and "runtime" in r:
        rt = r["runtime"]
        print(f"torch {rt['torch']}  torchvision {rt['torchvision']}  python {rt['python']} "
              f"({rt['python_executable']})")
        print(f"cpu: {rt['cpu']} x {rt['cpus']}   torch threads {rt['torch_threads']} "
              f"(interop {rt['torch_interop_threads']})  OMP/OPENBLAS_NUM_THREADS "
              f"{rt['env_threads']['OMP_NUM_THREADS']}/{rt['env_threads']['OPENBLAS_NUM_THREADS']}")
        print("BLAS/LAPACK/OpenMP loaded:", ", ".join(rt["blas_libraries"]) or "(none found)")
        print(rt["torch_config"].rstrip())
        print()
    ref = (f" (reference {r['reference_params']:,}: "
           f"{'match' if r['params_match_reference'] else 'MISMATCH'})"
           if r["reference_params"] else "")
    print(f"== {r['model']} [{r['config']}]  params {r['params']:,}{ref}  children N={r['children']}"
          f"  checkpointed chain {r['checkpointed_chain_length']}  batch {r['batch']}"
          f"  input {r['input']}")
    print(f"   {r['steps']} measured steps after {r['warmup']} warm-up, {r['threads']} threads, "
          f"memory workers malloc={r['memory_malloc']}")
    hdr = (f"   {'strategy':8} {'segs':>4} {'step s (median)':>15} {'time/full':>9} "
           f"{'cpu s':>7} {'cpu/full':>8} "
           f"{'act. peak MiB':>13} {'% full':>7} {'tracker MiB':>11} {'% full':>7} {'grads':>9}")
    print(hdr)
    for s, e in r["strategies"].items():
        def f(v, fmt):
            return format(v, fmt) if v is not None else "-"
        gc_ = e.get("grad_check")
        grads = "ref" if s == "full" else ("-" if gc_ is None else
                                           ("bitwise" if gc_["bitwise_equal"]
                                            else f"{gc_['max_abs_diff']:.1e}"))
        print(f"   {s:8} {f(e['segments'], 'd') if e['segments'] else '-':>4} "
              f"{f(e.get('step_seconds_median'), '.3f'):>15} "
              f"{f(e.get('time_ratio_over_full'), '.3f'):>9} "
              f"{f(e.get('step_cpu_seconds_median'), '.3f'):>7} "
              f"{f(e.get('cpu_time_ratio_over_full'), '.3f'):>8} "
              f"{f(mib(e.get('activation_peak_bytes')), '.1f'):>13} "
              f"{f(e.get('activation_percent_of_full'), '.1f'):>7} "
              f"{f(mib(e.get('tracker_peak_bytes')), '.1f'):>11} "
              f"{f(e.get('tracker_percent_of_full'), '.1f'):>7} {grads:>9}")
    base = r["strategies"].get("full", {}).get("baseline_rss_bytes")
    if base:
        print(f"   baseline RSS (full worker) {mib(base):.1f} MiB; parameters {mib(r['param_bytes']):.1f}"
              f" MiB (+ as much again for gradients)")
    print()


def parse_args(argv=None):
    import models
    p = argparse.ArgumentParser(
        description="PyTorch full caching vs torch.utils.checkpoint.checkpoint_sequential: "
                    "step time (interleaved, median) and activation peak (RSS over a warmed-up "
                    "baseline, fresh process per strategy).")
    p.add_argument("--model", default="all", choices=("all",) + models.MODEL_NAMES)
    p.add_argument("--small", action="store_true", help="small configurations (quick runs)")
    p.add_argument("--batch", type=int, default=None,
                   help="batch size (default per model: " + ", ".join(
                       f"{k} {v[0]} full/{v[1]} small" for k, v in DEFAULT_BATCH.items()) + ")")
    p.add_argument("--image", type=int, default=None, help="image side (default 224; small 64)")
    p.add_argument("--seq", type=int, default=None,
                   help="sequence length (default bert 128, gpt2 1024; small 128)")
    p.add_argument("--steps", type=int, default=5, help="measured steps per strategy (default 5)")
    p.add_argument("--warmup", type=int, default=1, help="warm-up steps per strategy (default 1)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch / OpenMP / OpenBLAS threads (default 1: on a shared 2-core machine "
                        "more threads than idle cores makes OpenMP spin and times explode)")
    p.add_argument("--strategies", default="full,sqrt,every2",
                   help="comma list from full,sqrt,every2 (default all; full is the reference)")
    p.add_argument("--malloc", choices=("fixed", "default"), default="fixed",
                   help="memory workers' glibc malloc: fixed 64 KiB mmap threshold (default) or "
                        "glibc's dynamic default")
    p.add_argument("--no-memory", dest="memory", action="store_false", help="skip memory workers")
    p.add_argument("--no-timing", dest="timing", action="store_false", help="skip timing worker")
    p.add_argument("--no-grad-check", dest="grad_check", action="store_false")
    p.add_argument("--no-tracker", dest="tracker", action="store_false",
                   help="skip the profiler-based allocation tracker step")
    p.add_argument("--json", metavar="PATH", help="write the full report as JSON ('-' = stdout)")
    p.add_argument("--worker", choices=("time", "memory"), help=argparse.SUPPRESS)
    p.add_argument("--strategy", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.strategies = [s for s in args.strategies.split(",") if s]
    bad = [s for s in args.strategies if s not in STRATEGIES]
    if bad:
        p.error(f"unknown strategy {bad[0]!r}; expected some of {','.join(STRATEGIES)}")
    if "full" in args.strategies:
        args.strategies.remove("full")
    args.strategies.insert(0, "full")       # always measured: it is the reference
    if args.steps < 1 or args.warmup < 0 or args.threads < 1:
        p.error("--steps and --threads must be >= 1, --warmup >= 0")
    return args


def main(argv=None):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    args = parse_args(argv)
    if args.worker:
        if args.model == "all":
            raise SystemExit("--worker needs one --model")
        result = worker_time(args) if args.worker == "time" else worker_memory(args)
        print(json.dumps(result))
        return
    names = list(__import__("models").MODEL_NAMES) if args.model == "all" else [args.model]
    reports = []
    to_stdout = args.json == "-"
    batch_arg = args.batch
    for i, name in enumerate(names):
        args.model = name
        args.batch = batch_arg or DEFAULT_BATCH[name][1 if args.small else 0]
        t0 = time.time()
        r = compare_model(args)
        r["wall_seconds"] = time.time() - t0
        reports.append(r)
        if not to_stdout:
            print_report(r, i == 0)
            sys.stdout.flush()
    doc = {"tool": "bench/pytorch/compare_checkpoint.py", "argv": sys.argv[1:],
           "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "models": reports}
    if args.json:
        text = json.dumps(doc, indent=1)
        if to_stdout:
            print(text)
        else:
            with open(args.json, "w") as f:
                f.write(text + "\n")


if __name__ == "__main__":
    main()
