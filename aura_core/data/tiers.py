"""The stress tiers: which file stands behind each level, how it is labelled, and whether it holds the partners' rows.

The first three entries of `tiers` are the levels L1, L2, L3 the claims are compared on; further built-in tiers and
`extra_tiers` are extra tiers X1, X2, … with no claim. Every tier carries a display name that says what the file is
(the partners' "Jigsaw" is a Civil Comments sample, not Kaggle's Jigsaw), so no table shows a level without its file.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from aura_core.base.params import Params, resolve_data_dir, tier_specs
from aura_core.base.results import LEVELS
from aura_core.data import loaders as D
from aura_core.data import preprocess

EVAL_SAMPLE_SEED = 0  # evaluation rows never depend on the training seed, so every run is scored on the same items


@dataclass(frozen=True)
class BuiltinTier:
    """A tier the `tiers` param can name: one entry in BUILTIN, which is the one list of them."""
    key: str
    name: Callable[[pd.DataFrame | None, Params], str]   # what the file is (None: not loaded), shown beside numbers
    label_rule: Callable[[Params], str]
    load: Callable[[Path, Params], pd.DataFrame]
    partners_rows: Callable[[pd.DataFrame, Params], bool]  # are these the rows the partners scored?


def _fixed(text: str) -> Callable:
    return lambda *_: text


def _toxigen_name(df: pd.DataFrame | None, p: Params) -> str:
    split = (df.attrs.get("split", "") if df is not None else "").removeprefix("annotated_") or "annotated"
    return f"ToxiGen annotated {split} ({p.toxigen_label_rule})"


BUILTIN = {t.key: t for t in [
    BuiltinTier("olid", _fixed("OLID test"), _fixed("subtask_a: OFF = 1"),
                lambda root, p: D.load_olid(root, "test", p.allow_hub), lambda df, p: True),
    BuiltinTier("partners_jigsaw", _fixed("Civil Comments sample (partners' 'Jigsaw')"),
                _fixed("label field of the partners' file (Civil Comments toxicity >= 0.5)"),
                lambda root, p: D.load_partners_tier(root, "partners_jigsaw"), lambda df, p: True),
    BuiltinTier("partners_toxigen", _fixed("ToxiGen test (partners' file)"),
                _fixed("label field of the partners' file (toxicity_human >= 2.5)"),
                lambda root, p: D.load_partners_tier(root, "partners_toxigen"), lambda df, p: True),
    BuiltinTier("jigsaw", _fixed("Jigsaw (Kaggle)"), _fixed("toxic column = 1"),
                lambda root, p: D.load_jigsaw(root), lambda df, p: False),
    BuiltinTier("toxigen", _toxigen_name, lambda p: f"toxigen_label_rule = {p.toxigen_label_rule}",
                lambda root, p: D.load_toxigen(root, p.toxigen_label_rule, p.allow_hub),
                # the annotated test CSV labelled by the partners' rule holds exactly their L3 rows
                lambda df, p: df.attrs.get("split") == "annotated_test" and p.toxigen_label_rule == "human_ge_2.5"),
]}


@dataclass
class Tier:
    key: str
    level: str
    name: str
    frame: pd.DataFrame | None
    provenance: dict
    reason: str = ""
    keys_in_file: set = field(default_factory=set)  # "id:…" and "sha1:…" of every row before subsampling


def levels(p: Params) -> list[tuple[str, str]]:
    """(key, level) of every declared tier in order: L1…L3 for the first three built-ins, X1, X2, … after."""
    claimed = list(p.tiers)[:len(LEVELS)]
    extra = list(p.tiers)[len(LEVELS):] + [s.name for s in tier_specs(p)]
    return [(k, f"L{i + 1}") for i, k in enumerate(claimed)] + [(k, f"X{i + 1}") for i, k in enumerate(extra)]


def shown_path(path: str | Path, root: Path) -> str:
    """A data file as $AURA_DATA_DIR/…, so reports never carry the paths of the machine they ran on."""
    try:
        return f"$AURA_DATA_DIR/{Path(path).resolve().relative_to(root.resolve()).as_posix()}"
    except ValueError:
        return str(path)


def text_sha1(text: str) -> str:
    """The row key a prediction file may use instead of the row id: SHA-1 of the tier file's raw text (UTF-8)."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def load_tiers(p: Params) -> list[Tier]:
    """Every declared tier, in order; one whose files are absent carries the reason instead of a frame."""
    root = resolve_data_dir(p)
    specs = {s.name: s for s in tier_specs(p)}
    tiers = []
    for key, level in levels(p):
        builtin = BUILTIN.get(key)
        try:
            df = builtin.load(root, p) if builtin else D.load_generic(root, specs[key])
        except D.MissingDataError as e:
            tiers.append(Tier(key, level, builtin.name(None, p) if builtin else key, None, {},
                              f"not available: {str(e).replace(str(root), '$AURA_DATA_DIR')}"))
            continue
        name = builtin.name(df, p) if builtin else key
        full = len(df)
        df = df.assign(text_sha1=[text_sha1(t) for t in df["text"]])  # of the raw text, before any preprocessing
        keys = {f"id:{i}" for i in df["id"]} | {f"sha1:{h}" for h in df["text_sha1"]}
        df = preprocess.apply(D.stratified_sample(df, p.eval_max_rows, EVAL_SAMPLE_SEED), p.preprocess)
        partners = bool(builtin.partners_rows(df, p)) if builtin else False
        src = df.attrs.get("source", "")
        prov = {"file": shown_path(src, root) if src and Path(src).is_absolute() else src,
                "split": df.attrs.get("split", "test"),
                "label_rule": builtin.label_rule(p) if builtin else df.attrs.get("split", ""),
                "rows": int(len(df)), "rows_in_file_after_rules": int(full), "toxic": int(df["label"].sum()),
                "removed_by_rules": dict(df.attrs.get("dropped", {})), "subsampled": df.attrs.get("subsampled", ""),
                "duplicates": dict(df.attrs.get("duplicates", {})), "partners_rows": partners}
        if level in LEVELS and not partners:
            prov["note"] = (f"{name} is not the file the partners scored as {level}; its level is not comparable "
                            f"with their numbers")
        tiers.append(Tier(key, level, name, df, prov, keys_in_file=keys))
    return tiers

