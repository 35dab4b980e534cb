"""Training rows tokenised once, padded per batch; the batch samplers (task-interleaved, length-grouped)."""
from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from aura_core.base.io import atomic_write_bytes

SOURCE_TASK = {"olid": "toxicity", "goemotions": "emotion"}


class TaskBatchSampler:
    """Single-task batches for the interleaved paradigm.

    An epoch has ceil(n_tox/b) + ceil(n_emo/b) batches whatever the rule, so epochs are comparable across rules.
    proportional: each task's batches exactly once, in a shuffled order (MT-DNN). round_robin: tasks alternate; the
    smaller task is cycled (re-shuffled when exhausted). temperature: the task of each batch is drawn with
    p_i ∝ n_i^(1/T) and exhausted tasks are cycled (jiant). Seeded; a new permutation every epoch. With `lengths`
    (row index → tokens), each task's batches are length-grouped (length_grouped_batches).
    """

    def __init__(self, task_rows: dict[str, np.ndarray], batch_size: int, rule: str, temperature: float = 2.0,
                 seed: int = 0, lengths: np.ndarray | None = None):
        self.lengths = None if lengths is None else np.asarray(lengths)
        self.task_rows = {t: np.asarray(r) for t, r in task_rows.items() if len(r)}
        self.tasks = list(self.task_rows)
        self.batch_size, self.rule, self.temperature, self.seed = batch_size, rule, temperature, seed
        self.epoch = 0
        sizes = np.array([len(self.task_rows[t]) for t in self.tasks], dtype=float)
        self.probs = sizes ** (1.0 / temperature) / (sizes ** (1.0 / temperature)).sum()

    def n_batches(self, task: str) -> int:
        return -(-len(self.task_rows[task]) // self.batch_size)

    def __len__(self) -> int:
        return sum(self.n_batches(t) for t in self.tasks)

    def task_sequence(self, rng: np.random.Generator) -> list[str]:
        n = len(self)
        if self.rule == "proportional":
            seq = [t for t in self.tasks for _ in range(self.n_batches(t))]
            return [seq[i] for i in rng.permutation(len(seq))]
        if self.rule == "round_robin":
            return [self.tasks[i % len(self.tasks)] for i in range(n)]
        if self.rule == "temperature":
            return [self.tasks[i] for i in rng.choice(len(self.tasks), size=n, p=self.probs)]
        raise ValueError(f"task_sampling {self.rule!r}: expected round_robin, proportional or temperature")

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        self.epoch += 1
        queues: dict[str, list] = {t: [] for t in self.tasks}
        for task in self.task_sequence(rng):
            if not queues[task]:  # (re)fill: a fresh permutation of the task's rows, cut into batches
                rows = self.task_rows[task][rng.permutation(len(self.task_rows[task]))]
                queues[task] = ([rows[i:i + self.batch_size].tolist() for i in range(0, len(rows), self.batch_size)]
                                if self.lengths is None else
                                length_grouped_batches(rows, self.lengths, self.batch_size, rng))
            yield queues[task].pop(0)


def token_cache_dir() -> Path | None:
    """$AURA_TOKEN_CACHE, else ~/.cache/aura-repro/tokens; AURA_TOKEN_CACHE=off disables the cache."""
    d = os.environ.get("AURA_TOKEN_CACHE", str(Path.home() / ".cache" / "aura-repro" / "tokens"))
    return None if d == "off" else Path(d)


def tokenize_cached(texts: list[str], tokenizer, max_length: int) -> list[list[int]]:
    """Token ids of every text, cached on disk keyed by tokenizer (name and vocabulary), max length and the exact texts
    (so preprocessing and data changes make a new key). Tokenising is the same work in every notebook and grid cell."""
    cache = token_cache_dir()
    key = None
    if cache is not None:
        h = hashlib.sha1()
        h.update(f"{type(tokenizer).__name__}|{tokenizer.name_or_path}|{len(tokenizer)}|{max_length}|".encode())
        h.update(hashlib.sha1(json.dumps(sorted(tokenizer.get_vocab().items())).encode()).digest())
        for t in texts:
            h.update(t.encode("utf-8", "surrogatepass") + b"\x00")
        key = cache / f"{h.hexdigest()}.npz"
        if key.is_file():
            z = np.load(key)
            return [ids.tolist() for ids in np.split(z["ids"], z["offsets"][1:-1])]
    ids = tokenizer(list(texts), truncation=True, max_length=max_length, add_special_tokens=True)["input_ids"]
    if key is not None:
        key.parent.mkdir(parents=True, exist_ok=True)
        offsets = np.cumsum([0] + [len(x) for x in ids])
        buf = io.BytesIO()
        np.savez(buf, ids=np.fromiter((t for x in ids for t in x), dtype=np.int32, count=int(offsets[-1])),
                 offsets=offsets)
        atomic_write_bytes(key, buf.getvalue())
    return ids


def length_grouped_batches(order: np.ndarray, lengths: np.ndarray, batch_size: int, rng: np.random.Generator,
                           group: int = 50) -> list[list[int]]:
    """Cut an order of rows into batches of similar length: mega-batches of `group` batches, each sorted by length
    and cut, then the batch order shuffled. Less padding; rows still meet different partners every epoch."""
    mega = batch_size * group
    batches = []
    for start in range(0, len(order), mega):
        chunk = order[start:start + mega]
        chunk = chunk[np.argsort(-lengths[chunk], kind="stable")]
        batches += [chunk[i:i + batch_size].tolist() for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


class LengthGroupedSampler:
    """Shuffled batches of similar length (less padding): shuffle, cut into mega-batches of `group` batches, sort each
    by length, cut into batches, shuffle the batch order. Seeded; a new permutation every epoch."""

    def __init__(self, lengths: list[int], batch_size: int, seed: int, group: int = 50):
        self.lengths, self.batch_size, self.seed, self.group, self.epoch = np.asarray(lengths), batch_size, seed, group, 0

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size)

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        self.epoch += 1
        yield from length_grouped_batches(rng.permutation(len(self.lengths)), self.lengths, self.batch_size, rng,
                                          self.group)


class TokenizedRows(Dataset):
    """Token ids (unpadded) and one label per task per row."""

    def __init__(self, texts: list[str], labels: dict[str, np.ndarray], tokenizer, max_length: int):
        self.input_ids = tokenize_cached(list(texts), tokenizer, max_length)
        self.labels = {t: np.asarray(v, dtype=np.int64) for t, v in labels.items()}
        self.pad_id = tokenizer.pad_token_id

    @classmethod
    def from_frame(cls, df: pd.DataFrame, tasks: list[str], tokenizer, max_length: int,
                   columns: dict[str, str] | None = None) -> "TokenizedRows":
        """Each task's label from the column of its name, or the one `columns` names for it."""
        columns = columns or {}
        missing = [columns.get(t, t) for t in tasks if columns.get(t, t) not in df]
        if missing:
            raise KeyError(f"training rows: no label column {missing[0]!r} (columns: {list(df.columns)})")
        return cls(df["text"].tolist(), {t: df[columns.get(t, t)].to_numpy() for t in tasks}, tokenizer, max_length)

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, i: int) -> tuple[list[int], dict[str, int]]:
        return self.input_ids[i], {t: int(v[i]) for t, v in self.labels.items()}


class PadCollator:
    """Pads to the longest row of the batch (not to max_length)."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, batch):
        width = max(len(ids) for ids, _ in batch)
        input_ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, (ids, _) in enumerate(batch):
            input_ids[i, : len(ids)] = torch.tensor(ids)
            mask[i, : len(ids)] = 1
        labels = {t: torch.tensor([lab[t] for _, lab in batch]) for t in batch[0][1]}
        return {"input_ids": input_ids, "attention_mask": mask, "labels": labels}


def make_loader(ds: TokenizedRows, batch_size: int, shuffle: bool, seed: int, num_workers: int = 0,
                batch_sampler=None) -> DataLoader:
    # Always an own generator: without one, each new iterator draws its base seed from the global torch RNG, which
    # would shift the dropout stream of a run resumed mid-epoch.
    g = torch.Generator()
    g.manual_seed(seed)
    if batch_sampler is not None:
        return DataLoader(ds, batch_sampler=batch_sampler, collate_fn=PadCollator(ds.pad_id), num_workers=num_workers,
                          generator=g)
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, generator=g if shuffle else None,
                      collate_fn=PadCollator(ds.pad_id), num_workers=num_workers)
