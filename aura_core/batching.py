"""Training rows for each paradigm, tokenised once, padded per batch."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from .data import NEUTRAL

IGNORE = -100  # label of a task a row does not carry (ignored by cross-entropy)


def paired_frame(olid: pd.DataFrame, goemotions: pd.DataFrame) -> pd.DataFrame:
    """Partner B's paired set: OLID rows get emotion 6 (neutral), GoEmotions rows get toxicity 0 (non-toxic)."""
    a = pd.DataFrame({"text": olid["text"].values, "toxicity": olid["label"].values,
                      "emotion": NEUTRAL, "source": "olid", "pseudo": "emotion"})
    b = pd.DataFrame({"text": goemotions["text"].values, "toxicity": 0,
                      "emotion": goemotions["label"].values, "source": "goemotions", "pseudo": "toxicity"})
    return pd.concat([a, b], ignore_index=True)


class TokenizedRows(Dataset):
    """Token ids (unpadded) and one label per task per row."""

    def __init__(self, texts: list[str], labels: dict[str, np.ndarray], tokenizer, max_length: int):
        enc = tokenizer(list(texts), truncation=True, max_length=max_length, add_special_tokens=True)
        self.input_ids = enc["input_ids"]
        self.labels = {t: np.asarray(v, dtype=np.int64) for t, v in labels.items()}
        self.pad_id = tokenizer.pad_token_id

    @classmethod
    def from_frame(cls, df: pd.DataFrame, tasks: list[str], tokenizer, max_length: int) -> "TokenizedRows":
        return cls(df["text"].tolist(), {t: df[t].to_numpy() for t in tasks}, tokenizer, max_length)

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, i: int) -> tuple[list[int], dict[str, int]]:
        return self.input_ids[i], {t: int(v[i]) for t, v in self.labels.items()}

    def n_tokens(self) -> int:
        return int(sum(len(x) for x in self.input_ids))


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


def make_loader(ds: TokenizedRows, batch_size: int, shuffle: bool, seed: int, num_workers: int = 0) -> DataLoader:
    g = torch.Generator()
    g.manual_seed(seed)
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, generator=g if shuffle else None,
                      collate_fn=PadCollator(ds.pad_id), num_workers=num_workers)
