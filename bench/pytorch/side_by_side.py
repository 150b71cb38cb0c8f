#!/usr/bin/python3
"""PyTorch and gradrecomp side by side on the same architecture, in one run (issue 5, item 5).

Runs, one after the other on the same machine:
  1. bench/pytorch/compare_checkpoint.py: Python PyTorch with full caching and with
     torch.utils.checkpoint.checkpoint_sequential (sqrt(N) segments, every 2 children);
  2. `gradrecomp compare`: the C++ model of the same architecture (include/gradrecomp/torch/models.h)
     with full caching, sqrt, every2 (checkpoint_sequential's segmentation of the same top-level
     units) and the optimal planner at 5% overhead;
  3. with --match-levels, `gradrecomp compare --budget P%` once per PyTorch checkpointing strategy,
     P = that strategy's measured activation peak in % of PyTorch's own full caching: gradrecomp's
     measured overhead at the same memory level, to set against checkpoint_sequential's.
Memory on each side is the activation peak in % of that side's own full caching (PyTorch: process
peak RSS over a warmed-up baseline, and its tensor-allocation tracker; gradrecomp: its counting
allocator); time is each side's median step time over its own full caching. Absolute step times
are not compared (different programs), only ratios.

    /usr/bin/python3 bench/pytorch/side_by_side.py --model resnet152 --small
    /usr/bin/python3 bench/pytorch/side_by_side.py --model resnet152 --batch 2 --steps 3 --match-levels --json out.json

Use Debian's interpreter /usr/bin/python3 (python3-torch). The gradrecomp binary defaults to
build/gradrecomp (built by scripts/test.sh or scripts/example.sh).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def run_json(command, label):
    """Runs `command` (whose --json target is the last argument pair) and returns the parsed file."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        path = handle.name
    try:
        full = command + ["--json", path]
        print(f"== {label}: {' '.join(full)}", file=sys.stderr, flush=True)
        started = time.monotonic()
        completed = subprocess.run(full, stdout=subprocess.DEVNULL)
        if completed.returncode != 0:
            raise SystemExit(f"side_by_side: {label} failed with exit code {completed.returncode}: {' '.join(full)}")
        print(f"   {label} took {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
        with open(path) as f:
            return json.load(f)
    finally:
        os.unlink(path)


def pytorch_side(args):
    command = ["/usr/bin/python3", os.path.join(HERE, "compare_checkpoint.py"), "--model", args.model,
               "--steps", str(args.steps), "--threads", str(args.threads)]
    if args.small:
        command.append("--small")
    if args.batch:
        command += ["--batch", str(args.batch)]
    report = run_json(command, "PyTorch")
    return report["models"][0]


def gradrecomp_side(args, batch, budget_percent=None):
    command = [args.gradrecomp, "compare", "--model", args.model, "--batch", str(batch), "--steps", str(args.steps),
               "--memory-cap", "none", "--threads", str(args.threads)]
    if args.small:
        command.append("--small")
    if budget_percent is not None:
        command += ["--budget", f"{budget_percent:.2f}%"]
    label = "gradrecomp" if budget_percent is None else f"gradrecomp at {budget_percent:.1f}%"
    return run_json(command, label)


def strategy(report, name):
    for s in report["strategies"]:
        if s["name"] == name:
            return s
    raise KeyError(name)


def rows_of(py, cpp, matched):
    rows = []
    for name, s in py["strategies"].items():
        rows.append({
            "side": "PyTorch", "strategy": "full caching" if name == "full" else f"checkpoint_sequential {name}",
            "plan": f"{s.get('segments')} segments" if name != "full" else "",
            "memory_percent": s.get("activation_percent_of_full"),
            "tracker_percent": s.get("tracker_percent_of_full"),
            "overhead_percent": 100 * (s.get("time_ratio_over_full", 1) - 1),
            "grads_bitwise": (s.get("grad_check") or {}).get("bitwise_equal", True),
        })
    for s in cpp["strategies"]:
        rows.append({
            "side": "gradrecomp", "strategy": s["name"], "plan": s["schedule_solver"],
            "memory_percent": 100 * s["measured"]["peak_fraction_of_full"],
            "tracker_percent": 100 * s["measured"]["peak_fraction_of_full"],
            "overhead_percent": 100 * s["measured"]["overhead"],
            "grads_bitwise": s["gradients"]["bitwise_equal_to_full"],
        })
    for level_name, report in matched.items():
        s = strategy(report, "optimal")
        rows.append({
            "side": "gradrecomp", "strategy": f"optimal at PyTorch {level_name}'s memory", "plan": s["schedule_solver"],
            "memory_percent": 100 * s["measured"]["peak_fraction_of_full"],
            "tracker_percent": 100 * s["measured"]["peak_fraction_of_full"],
            "overhead_percent": 100 * s["measured"]["overhead"],
            "grads_bitwise": s["gradients"]["bitwise_equal_to_full"],
        })
    return rows


def fmt(value, spec):
    return "-" if value is None else format(value, spec)


def print_table(py, cpp, rows):
    print(f"model {py['model']} ({py['config']}), batch {py['batch']}, {py['steps']} steps, threads {py['threads']}")
    print(f"  PyTorch: {py['params']:,} parameters; gradrecomp: {cpp['model']['parameters']:,} parameters")
    print(f"  BLAS (PyTorch process): {', '.join(py['runtime'].get('blas_libraries', [])) or 'unknown'}")
    print(f"  BLAS (gradrecomp): {', '.join(cpp['runtime'].get('blas_libraries', [])) or 'unknown'}")
    print()
    header = f"{'side':<11} {'strategy':<40} {'memory % of full':>17} {'tracker %':>10} {'overhead %':>11} {'grads bitwise':>14}  plan"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['side']:<11} {r['strategy']:<40} {fmt(r['memory_percent'], '17.1f')} {fmt(r['tracker_percent'], '10.1f')} "
              f"{fmt(r['overhead_percent'], '11.1f')} {('yes' if r['grads_bitwise'] else 'NO'):>14}  {r['plan']}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet152", choices=["resnet152", "vit_b_16", "bert_large", "gpt2"])
    parser.add_argument("--small", action="store_true", help="small configurations (quick runs)")
    parser.add_argument("--batch", type=int, default=0, help="batch size (default: compare_checkpoint.py's per model)")
    parser.add_argument("--steps", type=int, default=5, help="measured steps per strategy on each side")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads on both sides (default 1)")
    parser.add_argument("--match-levels", action="store_true",
                        help="also run gradrecomp's optimal planner at each checkpoint_sequential memory level")
    parser.add_argument("--gradrecomp", default=os.path.join(ROOT, "build", "gradrecomp"), help="the gradrecomp binary")
    parser.add_argument("--json", help="write both reports and the merged rows to this file")
    args = parser.parse_args(argv)
    if not os.access(args.gradrecomp, os.X_OK):
        parser.error(f"no gradrecomp binary at {args.gradrecomp} (build it: bash scripts/test.sh, or pass --gradrecomp)")

    py = pytorch_side(args)
    cpp = gradrecomp_side(args, py["batch"])
    matched = {}
    if args.match_levels:
        for name, s in py["strategies"].items():
            if name != "full" and s.get("activation_percent_of_full"):
                matched[name] = gradrecomp_side(args, py["batch"], s["activation_percent_of_full"])
    rows = rows_of(py, cpp, matched)
    print_table(py, cpp, rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"pytorch": py, "gradrecomp": cpp, "gradrecomp_matched": matched, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
