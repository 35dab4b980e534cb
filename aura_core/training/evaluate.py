"""Inference: class probabilities of a model over texts (the metrics they are scored with: metrics.py)."""
from __future__ import annotations

import numpy as np
import torch

from aura_core.training.batching import PadCollator, TokenizedRows


def class_probabilities(logits: torch.Tensor, multilabel: bool = False) -> torch.Tensor:
    """Softmax over the classes; a one-logit (sigmoid) head becomes the two columns (1 − p, p); a multi-label head one
    sigmoid per class (the rows do not sum to 1)."""
    if multilabel:
        return torch.sigmoid(logits.float())
    if logits.shape[-1] == 1:
        p = torch.sigmoid(logits.float())
        return torch.cat([1 - p, p], -1)
    return torch.softmax(logits.float(), -1)


@torch.inference_mode()
def predict(model, tokenizer, texts: list[str], batch_size: int = 64, max_length: int = 128,
            device: str | torch.device = "cpu", amp_dtype: torch.dtype | None = None) -> dict[str, np.ndarray]:
    """Class probabilities per task, in the order of `texts`. Rows are sorted by length so batches pad little; bf16
    autocast when amp_dtype is given (the run's `precision`)."""
    model.eval()
    ds = TokenizedRows(texts, {}, tokenizer, max_length)
    order = np.argsort([len(x) for x in ds.input_ids], kind="stable")
    collate = PadCollator(ds.pad_id)
    out: dict[str, list[np.ndarray]] = {t: [] for t in model.tasks}
    for start in range(0, len(order), batch_size):
        batch = collate([(ds.input_ids[i], {}) for i in order[start:start + batch_size]])
        dev_type = torch.device(device).type
        with torch.autocast(dev_type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            logits = model(batch["input_ids"].to(device), batch["attention_mask"].to(device))
        for t, v in logits.items():
            out[t].append(class_probabilities(v, t in getattr(model, "multilabel", ())).cpu().numpy())
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return {t: (np.concatenate(v)[inverse] if v else np.zeros((0, 2))) for t, v in out.items()}
