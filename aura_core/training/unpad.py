"""Padding-free encoder passes: a padded batch's real tokens as one sequence, attention per row without pads.

A random batch of 16 OLID rows holds ~42% real tokens once padded to its longest row, so most of the work of every
linear layer, LayerNorm, GELU and dropout is spent on pads. `Packing` unpads once at the model's input: the real tokens
of all rows become one (1, total_tokens) sequence whose `position_ids` restart at 0 for every row (what the padded pass
gives each real token), so BERT's layers run on real tokens only. Attention must still stay inside each row: the
registered transformers attention function `unpadded_attention` gathers the rows into a few length groups (rows
sorted by length, split where it saves the most padded attention work) and calls SDPA once per group with a key mask
and the model's attention dropout. Rows, their order, losses and optimizer steps are those of the padded batch.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F
from transformers import AttentionInterface

ATTENTION = "aura_unpadded"   # the name BertModel's config._attn_implementation takes when unpadded
MAX_GROUPS = 4                # SDPA calls per layer at most
GROUP_COST = 256              # a call's fixed cost, in padded (query, key) pairs per head: splits below it do not pay


@dataclass
class Group:
    """Rows of similar length padded to the longest of them for attention: `index` (rows, width) points each slot at
    its token in the packed sequence (pads at token 0), `key_mask` (rows, 1, 1, width) is True on real tokens."""
    index: torch.Tensor
    key_mask: torch.Tensor
    real: torch.Tensor          # (rows, width) bool: the slots that hold a real token


@dataclass
class Packing:
    """Where each row's real tokens lie in the packed sequence, and the attention groups over them."""
    token_index: torch.Tensor   # (total,) positions in the flattened padded batch that hold real tokens
    position_ids: torch.Tensor  # (1, total) each token's position in its own row
    row_starts: torch.Tensor    # (rows,) the first token of each row (its [CLS])
    row_of_token: torch.Tensor  # (total,) which row each token belongs to
    lengths: torch.Tensor       # (rows,) real tokens per row
    groups: list[Group]
    inverse: torch.Tensor       # (total,) where each packed token lies in the groups' concatenated real slots

    @property
    def total(self) -> int:
        return int(self.token_index.numel())


def split_points(lengths: list[int], max_groups: int = MAX_GROUPS, group_cost: int = GROUP_COST) -> list[int]:
    """Cut lengths sorted ascending into at most max_groups runs minimising Σ rows·width² (padded attention work per
    head) + group_cost per run; returns the end index of each run. An exact dynamic programme over the distinct
    lengths (a cut inside a run of equal lengths never helps), so a sorted inference batch of 128 rows costs little."""
    ends = [i + 1 for i in range(len(lengths)) if i + 1 == len(lengths) or lengths[i + 1] != lengths[i]]
    m, inf = len(ends), float("inf")
    best = [[inf] * (m + 1) for _ in range(max_groups + 1)]
    cut = [[0] * (m + 1) for _ in range(max_groups + 1)]
    best[0][0] = 0.0
    for g in range(1, max_groups + 1):
        for j in range(1, m + 1):                       # the group ends after distinct length j
            width = lengths[ends[j - 1] - 1] ** 2
            for i in range(g - 1, j):                   # … and starts after distinct length i
                rows = ends[j - 1] - (ends[i - 1] if i else 0)
                c = best[g - 1][i] + rows * width + group_cost
                if c < best[g][j]:
                    best[g][j], cut[g][j] = c, i
    g = min(range(1, max_groups + 1), key=lambda k: best[k][m])
    out, j = [], m
    while g:
        out.append(ends[j - 1])
        j, g = cut[g][j], g - 1
    return out[::-1]


def pack(attention_mask: torch.Tensor, max_groups: int = MAX_GROUPS) -> Packing:
    """The packing of a padded batch (rows, width) given its 0/1 attention mask (pads anywhere, not only at the end)."""
    keep = attention_mask.bool()
    rows, width = keep.shape
    device = keep.device
    lengths = keep.sum(1)
    token_index = keep.reshape(-1).nonzero().squeeze(1)
    position_ids = (token_index % width)
    # in the padded pass a token's position is its column; a row's tokens keep their columns' positions
    position_ids = position_ids[None]
    starts = torch.cumsum(lengths, 0) - lengths
    row_of_token = torch.repeat_interleave(torch.arange(rows, device=device), lengths)
    lens_host = lengths.tolist()
    order = sorted(range(rows), key=lambda r: lens_host[r])
    sorted_lengths = [lens_host[r] for r in order]
    groups, begin, real_slots = [], 0, []
    for end in split_points(sorted_lengths, max_groups):
        members = torch.tensor(order[begin:end], device=device)
        w = max(sorted_lengths[end - 1], 1)
        col = torch.arange(w, device=device)
        real = col[None, :] < lengths[members][:, None]
        index = torch.where(real, starts[members][:, None] + col[None, :], torch.zeros((), dtype=torch.long,
                                                                                        device=device))
        groups.append(Group(index, real[:, None, None, :], real))
        real_slots.append(index[real])
        begin = end
    concatenated = torch.cat(real_slots)
    inverse = torch.empty_like(concatenated)
    inverse[concatenated] = torch.arange(concatenated.numel(), device=device)
    return Packing(token_index, position_ids, starts, row_of_token, lengths, groups, inverse)


def unpadded_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, packing=None, **kwargs):
    """transformers attention function for a packed (1, heads, total, head_dim) sequence: SDPA per length group with
    a key mask, so no token attends across rows or to a pad. Returns (1, total, heads, head_dim), as eager does."""
    if packing is None:
        raise RuntimeError(f"attention {ATTENTION!r} needs the batch's packing (AuraModel passes it); "
                           "for a padded batch use the sdpa attention")
    q, k, v = (t[0].transpose(0, 1) for t in (query, key, value))   # (total, heads, head_dim)
    outputs = []
    for g in packing.groups:
        qg, kg, vg = (t[g.index].transpose(1, 2) for t in (q, k, v))  # (rows, heads, width, head_dim)
        og = F.scaled_dot_product_attention(qg, kg, vg, attn_mask=g.key_mask, dropout_p=dropout, scale=scaling)
        outputs.append(og.transpose(1, 2)[g.real])                      # (real tokens, heads, head_dim)
    out = torch.cat(outputs)[packing.inverse]
    return out[None], None


AttentionInterface.register(ATTENTION, unpadded_attention)
