"""Loaders for the authors' published files, under one data dir, with the published file names.

Every loader returns a DataFrame with at least `id`, `text`, `label` (int) and validates as it reads: a malformed row,
unknown label, missing column, empty text or duplicate id raises DataError with one line naming the file and line.
Nothing is skipped silently: rows a documented rule removes (Jigsaw's unscored -1 rows, a tier's drop values,
GoEmotions multi-label rows under `single_only`) are counted in `df.attrs["dropped"]` and shown in the data cards.
"""
from __future__ import annotations

import ast
import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from aura_core.base.errors import DataError, MissingDataError
from aura_core.base.params import TierSpec

EKMAN = ["anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral"]  # ids 0..6, as the comparison report uses
NEUTRAL = EKMAN.index("neutral")


def label_set(classes) -> int:
    """A row's Ekman classes as one integer, bit c set for class c: GoEmotions is multi-label, and one int per row keeps
    every frame, batch and stored prediction one column wide (emotion_target: multilabel decodes it)."""
    return sum(1 << int(c) for c in set(classes))

OLID_FILES = ("olid/olid-training-v1.0.tsv", "olid/testset-levela.tsv", "olid/labels-levela.csv")
GOEMOTIONS_FILES = ("goemotions/train.tsv", "goemotions/dev.tsv", "goemotions/test.tsv", "goemotions/emotions.txt",
                    "goemotions/ekman_mapping.json")
JIGSAW_FILES = ("jigsaw/test.csv", "jigsaw/test_labels.csv")  # the Kaggle test files (a stress tier, never trained on)
# the AURA partners' own stress-test files (their L2 "Jigsaw" is a balanced Civil Comments sample; their L3 is ToxiGen's
# 940-row annotated test split labelled toxicity_human >= 2.5): see $AURA_DATA_DIR/aura_stress/SOURCE.md
PARTNER_FILES = {"partners_jigsaw": "aura_stress/jigsaw_test.json", "partners_toxigen": "aura_stress/toxigen_test.json"}
WHERE_TO_GET = {
    "olid": "OLID v1.0 from https://sites.google.com/site/offensevalsharedtask/olid (or HF dataset tweet_eval/offensive)",
    "goemotions": "GoEmotions from github.com/google-research/google-research/tree/master/goemotions/data "
                  "(or HF dataset google-research-datasets/go_emotions, config simplified)",
    "toxigen": "ToxiGen annotated data from HF dataset toxigen/toxigen-data (config annotated; gated: accept the terms)",
    "jigsaw": "Kaggle 'Jigsaw Toxic Comment Classification Challenge' data (account + rules acceptance required)",
    "aura_stress": "the AURA partners' stress-test files (data/processed/*_test.json of the AURA repository; see "
                   "aura_stress/SOURCE.md)",
}
JIGSAW_LABELS = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]


# ----------------------------------------------------------------------------------------------------------------------
# where the files are

def missing_files(root: Path, files: Iterable[str]) -> list[str]:
    return [f for f in files if not (root / f).is_file()]


def _missing_error(dataset: str, root: Path, missing: list[str], hub_error: str | None = None) -> MissingDataError:
    msg = f"{dataset}: missing {', '.join(str(root / m) for m in missing)}; get {WHERE_TO_GET[dataset]}"
    if hub_error:
        msg += f"; the Hub fallback failed too: {hub_error}"
    return MissingDataError(msg)


def _with_hub_fallback(dataset: str, root: Path, files: Iterable[str], allow_hub: bool,
                       local: Callable[[], pd.DataFrame], hub: Callable[[], pd.DataFrame] | None) -> pd.DataFrame:
    missing = missing_files(root, files)
    return local() if not missing else _from_hub(dataset, root, missing, allow_hub, hub)


def _from_hub(dataset: str, root: Path, missing: list, allow_hub: bool,
              hub: Callable[[], pd.DataFrame] | None) -> pd.DataFrame:
    """The dataset from the Hugging Face Hub when its local files are missing and the Hub is allowed; else (or when
    the Hub fails) the one clear missing-file error."""
    if not allow_hub or hub is None:
        raise _missing_error(dataset, root, missing)
    try:
        df = hub()
    except Exception as e:  # the Hub is optional: any failure becomes the one clear missing-file error
        raise _missing_error(dataset, root, missing, f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}") from None
    df.attrs["source"] = f"Hugging Face Hub ({df.attrs.get('source', dataset)})"
    return df


# ----------------------------------------------------------------------------------------------------------------------
# low-level readers with row-level errors

@dataclass
class Row:
    line: int
    fields: dict


def _decode(path: Path) -> str:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: bytes are not valid UTF-8 ({data[e.start:e.start + 4]!r})") from None
    return text


def read_table(path: Path, delimiter: str, columns: list[str] | None, quoting: bool = True,
               header: bool = True) -> list[Row]:
    """Rows of a delimited file, checked for field counts and required columns; line numbers are 1-based."""
    text = _decode(path)
    if quoting:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
        try:
            records = []
            for rec in reader:
                records.append((reader.line_num, rec))
        except csv.Error as e:
            raise DataError(f"{path}:{reader.line_num}: malformed CSV ({e})") from None
    else:
        records = [(i + 1, line.split(delimiter)) for i, line in enumerate(text.splitlines())]
    records = [(n, r) for n, r in records if r and any(x.strip() for x in r)]  # blank lines (e.g. trailing) only
    if not records:
        raise DataError(f"{path}: file is empty")
    if header:
        head_line, head = records[0]
        head = [h.strip() for h in head]
        records = records[1:]
        if columns:
            absent = [c for c in columns if c not in head]
            if absent:
                hint = ""
                if len(head) == 1 and any(d in head[0] for d in (",", "\t", ";")):
                    hint = f" (one column only: is the delimiter {delimiter!r} right?)"
                raise DataError(f"{path}:{head_line}: missing column(s) {absent}; header has {head}{hint}")
    else:
        head = columns
    out = []
    for n, rec in records:
        if len(rec) != len(head):
            raise DataError(f"{path}:{n}: expected {len(head)} fields separated by {delimiter!r}, found {len(rec)}")
        out.append(Row(n, dict(zip(head, rec))))
    return out


def _frame(path: Path, rows: list[dict], lines: list[int]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    df["line"] = lines
    df.attrs.update(source=str(path), dropped={})
    return df


def _check_text(path: Path, line: int, text: str) -> str:
    if not text or not text.strip():
        raise DataError(f"{path}:{line}: empty or whitespace-only text")
    return text


def _check_unique(df: pd.DataFrame, path: Path, col: str = "id") -> None:
    dup = df[df[col].duplicated(keep="first")]
    if len(dup):
        r = dup.iloc[0]
        first = df[df[col] == r[col]].iloc[0]
        raise DataError(f"{path}:{r['line']}: duplicate {col} {r[col]!r} (first seen at line {first['line']})")


def _label(path: Path, line: int, value: str, mapping: dict, column: str) -> int:
    if value not in mapping:
        raise DataError(f"{path}:{line}: unknown {column} value {value!r}; expected one of {sorted(mapping)}")
    return mapping[value]


# ----------------------------------------------------------------------------------------------------------------------
# OLID

OLID_A = {"NOT": 0, "OFF": 1}


def _olid_train_local(root: Path) -> pd.DataFrame:
    path = root / OLID_FILES[0]
    rows = read_table(path, "\t", ["id", "tweet", "subtask_a"], quoting=False)
    recs = [{"id": r.fields["id"].strip(), "text": _check_text(path, r.line, r.fields["tweet"]),
             "label": _label(path, r.line, r.fields["subtask_a"].strip(), OLID_A, "subtask_a")} for r in rows]
    df = _frame(path, recs, [r.line for r in rows])
    _check_unique(df, path)
    return df


def _olid_test_local(root: Path) -> pd.DataFrame:
    tpath, lpath = root / OLID_FILES[1], root / OLID_FILES[2]
    trows = read_table(tpath, "\t", ["id", "tweet"], quoting=False)
    test = _frame(tpath, [{"id": r.fields["id"].strip(), "text": _check_text(tpath, r.line, r.fields["tweet"])}
                          for r in trows], [r.line for r in trows])
    _check_unique(test, tpath)
    # labels-levela.csv: "id,label" per line; some copies start with a header line (id,label / id,subtask_a), some not
    raw = read_table(lpath, ",", ["id", "label"], quoting=True, header=False)
    if raw and raw[0].fields["id"].strip().lower() == "id":
        raw = raw[1:]
    labels = {}
    for r in raw:
        key = r.fields["id"].strip()
        if key in labels:
            raise DataError(f"{lpath}:{r.line}: duplicate id {key!r}")
        labels[key] = _label(lpath, r.line, r.fields["label"].strip(), OLID_A, "label")
    test_ids = set(test["id"])
    extra = [k for k in labels if k not in test_ids]
    if extra:
        raise DataError(f"{lpath}: labels not aligned with {tpath.name}: id {extra[0]!r} has a label but no tweet "
                        f"({len(extra)} such ids)")
    unl = test[~test["id"].isin(labels)]
    if len(unl):
        raise DataError(f"{tpath}:{unl.iloc[0]['line']}: labels not aligned: id {unl.iloc[0]['id']!r} has no label "
                        f"in {lpath.name} ({len(unl)} such ids)")
    test["label"] = test["id"].map(labels).astype(int)
    return test


def _hub_tweet_eval(split: str) -> pd.DataFrame:
    import datasets
    ds = datasets.load_dataset("tweet_eval", "offensive", split=split)
    return olid_from_hub_records(ds.to_dict())


def olid_from_hub_records(cols: dict) -> pd.DataFrame:
    """tweet_eval/offensive columns (text, label: 0 not-offensive, 1 offensive) → our frame."""
    df = pd.DataFrame({"id": [f"hub-{i}" for i in range(len(cols["text"]))], "text": cols["text"],
                       "label": [int(x) for x in cols["label"]]})
    bad = df[~df["label"].isin([0, 1])]
    if len(bad):
        raise DataError(f"tweet_eval/offensive: row {bad.index[0]}: unknown label {bad.iloc[0]['label']!r}")
    df["line"] = np.arange(len(df)) + 1
    df.attrs.update(source="tweet_eval/offensive", dropped={})
    return df


def load_olid(root: Path, split: str, allow_hub: bool = True) -> pd.DataFrame:
    """split: 'train' (all 13,240 labelled training tweets) or 'test' (the official 860-tweet level-A test)."""
    if split == "train":
        return _with_hub_fallback("olid", root, OLID_FILES[:1], allow_hub, lambda: _olid_train_local(root),
                                  lambda: pd.concat([_hub_tweet_eval("train"), _hub_tweet_eval("validation")],
                                                    ignore_index=True))
    if split == "test":
        return _with_hub_fallback("olid", root, OLID_FILES[1:], allow_hub, lambda: _olid_test_local(root),
                                  lambda: _hub_tweet_eval("test"))
    raise ValueError(f"OLID split {split!r}: expected train or test")


def olid_train_dev(root: Path, dev_fraction: float, seed: int, allow_hub: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """OLID has no dev split: a stratified, seeded hold-out of the training file."""
    from sklearn.model_selection import train_test_split
    df = load_olid(root, "train", allow_hub)
    tr, dev = train_test_split(df, test_size=dev_fraction, stratify=df["label"], random_state=seed)
    for part, name in ((tr, "train"), (dev, "dev")):
        part.attrs.update(df.attrs, split=f"{name} ({'seeded stratified' if name == 'dev' else 'rest'} split of "
                                          f"olid-training-v1.0.tsv, dev_fraction={dev_fraction}, seed={seed})")
    return tr.reset_index(drop=True), dev.reset_index(drop=True)


# ----------------------------------------------------------------------------------------------------------------------
# GoEmotions → Ekman 6 + neutral

def ekman_map(root: Path) -> dict[int, int]:
    """Fine-grained label id (0..27) → Ekman id (anger 0 … surprise 5, neutral 6)."""
    epath, mpath = root / GOEMOTIONS_FILES[3], root / GOEMOTIONS_FILES[4]
    names = [n.strip() for n in _decode(epath).splitlines() if n.strip()]
    try:
        groups = json.loads(_decode(mpath))
    except json.JSONDecodeError as e:
        raise DataError(f"{mpath}:{e.lineno}: not valid JSON ({e.msg})") from None
    fine_to_ekman = {"neutral": NEUTRAL}
    for group, members in groups.items():
        if group not in EKMAN:
            raise DataError(f"{mpath}: unknown Ekman group {group!r}; expected {EKMAN[:-1]}")
        for m in members:
            fine_to_ekman[m] = EKMAN.index(group)
    unmapped = [n for n in names if n not in fine_to_ekman]
    if unmapped:
        raise DataError(f"{mpath}: emotions {unmapped} from {epath.name} are not mapped to an Ekman group")
    return {i: fine_to_ekman[n] for i, n in enumerate(names)}


def _goemotions_local(root: Path, split: str, multilabel: str) -> pd.DataFrame:
    path = root / f"goemotions/{split}.tsv"
    mapping = ekman_map(root)
    rows = read_table(path, "\t", ["text", "labels", "id"], quoting=True, header=False)
    recs, lines, dropped = [], [], 0
    for r in rows:
        text = _check_text(path, r.line, r.fields["text"])
        try:
            fine = [int(x) for x in r.fields["labels"].split(",")]
        except ValueError:
            raise DataError(f"{path}:{r.line}: labels {r.fields['labels']!r} are not comma-separated ids") from None
        bad = [f for f in fine if f not in mapping]
        if bad:
            raise DataError(f"{path}:{r.line}: unknown emotion id {bad[0]}; expected 0..{len(mapping) - 1}")
        ekman = [mapping[f] for f in fine]
        if multilabel == "single_only" and len(set(ekman)) > 1:
            dropped += 1
            continue
        recs.append({"id": r.fields["id"].strip(), "text": text, "label": ekman[0], "label_set": label_set(ekman),
                     "fine_labels": r.fields["labels"], "n_ekman": len(set(ekman))})
        lines.append(r.line)
    df = _frame(path, recs, lines)
    if dropped:
        df.attrs["dropped"] = {"labels map to several Ekman classes (emotion_multilabel=single_only)": dropped}
    _check_unique(df, path)
    return df


def goemotions_from_hub_records(cols: dict, fine_to_ekman: dict[int, int], multilabel: str) -> pd.DataFrame:
    recs, dropped = [], 0
    for i, (text, labels, rid) in enumerate(zip(cols["text"], cols["labels"], cols["id"])):
        ek = [fine_to_ekman[int(x)] for x in labels]
        if multilabel == "single_only" and len(set(ek)) > 1:
            dropped += 1
            continue
        recs.append({"id": rid, "text": text, "label": ek[0], "label_set": label_set(ek),
                     "fine_labels": ",".join(map(str, labels)),
                     "n_ekman": len(set(ek)), "line": i + 1})
    df = pd.DataFrame(recs)
    df.attrs.update(source="google-research-datasets/go_emotions (simplified)",
                    dropped={"labels map to several Ekman classes (emotion_multilabel=single_only)": dropped} if dropped else {})
    return df


def load_goemotions(root: Path, split: str, multilabel: str = "first", allow_hub: bool = True) -> pd.DataFrame:
    if split not in ("train", "dev", "test"):
        raise ValueError(f"GoEmotions split {split!r}: expected train, dev or test")

    def hub():
        import datasets
        ds = datasets.load_dataset("google-research-datasets/go_emotions", "simplified",
                                   split={"dev": "validation"}.get(split, split))
        names = ds.features["labels"].feature.names
        groups = {"anger": ["anger", "annoyance", "disapproval"], "disgust": ["disgust"],
                  "fear": ["fear", "nervousness"], "sadness": ["sadness", "disappointment", "embarrassment", "grief",
                                                               "remorse"],
                  "surprise": ["surprise", "realization", "confusion", "curiosity"]}
        f2e = {i: next((EKMAN.index(g) for g, m in groups.items() if n in m), EKMAN.index("joy"))
               for i, n in enumerate(names)}
        f2e[names.index("neutral")] = NEUTRAL
        return goemotions_from_hub_records(ds.to_dict(), f2e, multilabel)

    files = (f"goemotions/{split}.tsv",) + GOEMOTIONS_FILES[3:]
    return _with_hub_fallback("goemotions", root, files, allow_hub,
                              lambda: _goemotions_local(root, split, multilabel), hub)


# ----------------------------------------------------------------------------------------------------------------------
# ToxiGen (human-annotated)

TOXIGEN_COLUMNS = ["text", "target_group", "toxicity_ai", "toxicity_human", "label"]


def decode_bytes_literal(s: str) -> str:
    """The published annotated CSV stores text as a Python bytes literal, b'...' or b"..."; other text passes through."""
    t = s.strip()
    if len(t) >= 3 and t[0] == "b" and t[1] in "'\"" and t[-1] == t[1]:
        try:
            value = ast.literal_eval(t)
        except (ValueError, SyntaxError):
            # a wrapper whose inner quotes are not escaped: strip it and undo the escapes by hand
            value = t[2:-1].encode("latin-1", "backslashreplace").decode("unicode_escape").encode("latin-1")
        if isinstance(value, bytes):
            return value.decode("utf-8")
    return s


# ToxiGen's target groups, one name each: the annotated train CSV's 13 short names. The test split (and the partners'
# file) spells them as 15 longer strings, two groups twice; both spellings map to the same group.
TOXIGEN_GROUPS = {
    "asian folks": "asian", "black/african-american folks": "black", "black folks / african-americans": "black",
    "chinese folks": "chinese", "jewish folks": "jewish", "latino/hispanic folks": "latino", "lgbtq+ folks": "lgbtq",
    "folks with mental disabilities": "mental_dis", "mexican folks": "mexican", "middle eastern folks": "middle_east",
    "muslim folks": "muslim", "native american/indigenous folks": "native_american",
    "native american folks": "native_american", "folks with physical disabilities": "physical_dis", "women": "women",
}
TOXIGEN_GROUP_NAMES = sorted(set(TOXIGEN_GROUPS.values()))


def toxigen_group(raw: str, where: str) -> str:
    """The canonical group of a raw target_group string (either split's spelling); unknown strings are an error."""
    g = raw.strip()
    if g in TOXIGEN_GROUP_NAMES:
        return g
    if g.lower() in TOXIGEN_GROUPS:
        return TOXIGEN_GROUPS[g.lower()]
    raise DataError(f"{where}: unknown ToxiGen target_group {raw!r}; known: {sorted(TOXIGEN_GROUPS)} or "
                    f"{TOXIGEN_GROUP_NAMES}")


def _scores(row: dict) -> tuple[float, float]:
    try:
        return float(row["toxicity_ai"]), float(row["toxicity_human"])
    except ValueError:
        raise ValueError(f"toxicity_ai/toxicity_human {row['toxicity_ai']!r}/{row['toxicity_human']!r} are not "
                         f"numbers") from None


def _prompt_label(row: dict) -> int:
    if row["label"] not in ("hate", "neutral"):
        raise ValueError(f"unknown label value {row['label']!r}; expected 'hate' or 'neutral'")
    return int(row["label"] == "hate")


# The ToxiGen label rules, one entry each: row (toxicity_ai, toxicity_human, label) → 0/1. The `toxigen_label_rule`
# param accepts every registered name; a rule that cannot read a row raises ValueError saying why.
TOXIGEN_LABEL_RULES: dict[str, Callable[[dict], int]] = {
    "mean_gt_2.75": lambda r: int(sum(_scores(r)) / 2 > 2.75),   # lm-eval-harness
    "human_ge_2.5": lambda r: int(_scores(r)[1] >= 2.5),         # the AURA partners' (their download script)
    "human_ge_3": lambda r: int(_scores(r)[1] >= 3),
    "human_gt_3": lambda r: int(_scores(r)[1] > 3),
    "prompt_label": _prompt_label,                               # the generating prompt's class, not a judgement
}


def toxigen_label(row: dict, rule: str) -> int:
    return TOXIGEN_LABEL_RULES[rule](row)


def _toxigen_local(path: Path, rule: str) -> pd.DataFrame:
    rows = read_table(path, ",", TOXIGEN_COLUMNS, quoting=True)
    recs = []
    for r in rows:
        f = r.fields
        try:
            text = decode_bytes_literal(f["text"])
        except UnicodeDecodeError:
            raise DataError(f"{path}:{r.line}: text bytes literal is not valid UTF-8") from None
        _check_text(path, r.line, text)
        try:
            ai, human = _scores(f)   # kept beside the label whatever the rule
            label = toxigen_label(f, rule)
        except ValueError as e:
            raise DataError(f"{path}:{r.line}: {e}") from None
        recs.append({"id": str(r.line), "text": text, "label": label,
                     "target_group": toxigen_group(f["target_group"], f"{path}:{r.line}"),
                     "target_group_raw": f["target_group"],
                     "toxicity_human": human, "toxicity_ai": ai})
    df = _frame(path, recs, [r.line for r in rows])
    df.attrs["label_rule"] = rule
    return df


def load_toxigen(root: Path, rule: str, allow_hub: bool = True) -> pd.DataFrame:
    """The annotated test split when present, else the annotated train rows (never used for training here)."""
    for name in ("annotated_test.csv", "annotated_train.csv"):
        path = root / "toxigen" / name
        if path.is_file():
            df = _toxigen_local(path, rule)
            df.attrs["split"] = name.removesuffix(".csv")
            return df

    def hub():
        import datasets
        ds = datasets.load_dataset("toxigen/toxigen-data", "annotated", split="test")
        df = pd.DataFrame(ds.to_dict())
        df["label"] = [toxigen_label(r, rule) for r in df.to_dict("records")]
        df["target_group_raw"] = df["target_group"]
        df["target_group"] = [toxigen_group(g, f"toxigen/toxigen-data row {i}") for i, g in enumerate(df["target_group"])]
        df["id"], df["line"] = df.index.astype(str), df.index + 1
        df.attrs.update(source="toxigen/toxigen-data (annotated, test)", split="annotated_test", dropped={})
        return df

    return _from_hub("toxigen", root, missing_files(root, ("toxigen/annotated_test.csv (or annotated_train.csv)",)),
                     allow_hub, hub)


def toxigen_rule_shares(root: Path) -> pd.DataFrame:
    """How each label rule sets the toxic share on each annotated ToxiGen CSV present: the rule alone moves a tier's
    base rate (and so its macro-F1 at a fixed threshold)."""
    out = []
    for name in ("annotated_test.csv", "annotated_train.csv"):
        path = root / "toxigen" / name
        if not path.is_file():
            continue
        rows = read_table(path, ",", TOXIGEN_COLUMNS, quoting=True)
        for rule in TOXIGEN_LABEL_RULES:
            toxic = sum(toxigen_label(r.fields, rule) for r in rows)
            out.append({"file": f"toxigen/{name}", "rule": rule, "rows": len(rows), "toxic": toxic,
                        "toxic share": round(toxic / len(rows), 4)})
    if not out:
        raise _missing_error("toxigen", root, ["toxigen/annotated_test.csv (or annotated_train.csv)"])
    return pd.DataFrame(out)


# ----------------------------------------------------------------------------------------------------------------------
# the partners' JSON tier files (array of {text, label, ...})

def load_json_tier(path: Path) -> pd.DataFrame:
    """One JSON array of {"text", "label" (0/1), ...} records; extra fields are kept as columns, row ids are the
    records' 0-based positions. Duplicate text+label records are kept (the partners scored them) and counted."""
    try:
        records = json.loads(_decode(path))
    except json.JSONDecodeError as e:
        raise DataError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None
    if not isinstance(records, list):
        raise DataError(f"{path}: expected a JSON array of {{text, label}} records, got {type(records).__name__}")
    if not records:
        raise DataError(f"{path}: no records")
    recs = []
    for i, r in enumerate(records):
        where = f"{path}: record {i}"
        if not isinstance(r, dict):
            raise DataError(f"{where}: expected an object with 'text' and 'label', got {type(r).__name__}")
        missing = [k for k in ("text", "label") if k not in r]
        if missing:
            raise DataError(f"{where}: missing {' and '.join(repr(k) for k in missing)}")
        if not isinstance(r["text"], str):
            raise DataError(f"{where}: 'text' must be a string, got {type(r['text']).__name__}")
        if isinstance(r["label"], bool) or r["label"] not in (0, 1):
            raise DataError(f"{where}: 'label' must be 0 or 1, got {r['label']!r}")
        if not r["text"].strip():
            raise DataError(f"{where}: empty or whitespace-only text")
        recs.append({**r, "id": str(i), "label": int(r["label"])})
    df = pd.DataFrame(recs)
    df["line"] = np.arange(len(df))
    df.attrs.update(source=str(path), dropped={})
    dup = df.duplicated(["text", "label"], keep="first")
    if dup.any():
        df.attrs["duplicates"] = {"duplicate text+label records (kept, as the file's authors scored them)":
                                  int(dup.sum()), "first": int(np.flatnonzero(dup)[0])}
    if "target_group" in df:
        df["target_group_raw"] = df["target_group"]
        df["target_group"] = [toxigen_group(str(g), f"{path}: record {i}") for i, g in enumerate(df["target_group"])]
    return df


def load_partners_tier(root: Path, key: str) -> pd.DataFrame:
    """The partners' L2 or L3 file (PARTNER_FILES) from the data dir; no Hub fallback: these exact rows or nothing."""
    rel = PARTNER_FILES[key]
    if not (root / rel).is_file():
        raise _missing_error("aura_stress", root, [rel])
    df = load_json_tier(root / rel)
    df.attrs["split"] = {"partners_jigsaw": "the partners' L2: Civil Comments test[:10000], toxicity >= 0.5, balanced",
                         "partners_toxigen": "the partners' L3: ToxiGen annotated test split, toxicity_human >= 2.5"
                         }[key]
    return df


# ----------------------------------------------------------------------------------------------------------------------
# Jigsaw (Kaggle layout)

def _jigsaw_test_local(root: Path) -> pd.DataFrame:
    tpath, lpath = root / JIGSAW_FILES[0], root / JIGSAW_FILES[1]
    trows = read_table(tpath, ",", ["id", "comment_text"], quoting=True)
    lrows = read_table(lpath, ",", ["id"] + JIGSAW_LABELS, quoting=True)
    labels = {}
    for r in lrows:
        try:
            vals = [int(r.fields[c]) for c in JIGSAW_LABELS]
        except ValueError:
            raise DataError(f"{lpath}:{r.line}: label values {[r.fields[c] for c in JIGSAW_LABELS]} are not integers") from None
        if any(v not in (-1, 0, 1) for v in vals):
            raise DataError(f"{lpath}:{r.line}: label values must be -1, 0 or 1, got {vals}")
        if r.fields["id"] in labels:
            raise DataError(f"{lpath}:{r.line}: duplicate id {r.fields['id']!r}")
        labels[r.fields["id"]] = vals
    recs, lines, unscored = [], [], 0
    for r in trows:
        rid = r.fields["id"]
        if rid not in labels:
            raise DataError(f"{tpath}:{r.line}: labels not aligned: id {rid!r} has no row in {lpath.name}")
        vals = labels.pop(rid)
        if vals[0] == -1:
            unscored += 1
            continue
        recs.append({"id": rid, "text": _check_text(tpath, r.line, r.fields["comment_text"]), "label": vals[0],
                     "any_label": int(any(v == 1 for v in vals))})
        lines.append(r.line)
    if labels:
        raise DataError(f"{lpath}: labels not aligned: id {next(iter(labels))!r} has no row in {tpath.name} "
                        f"({len(labels)} such ids)")
    df = _frame(tpath, recs, lines)
    df.attrs["dropped"] = {"unscored rows (test_labels.csv -1)": unscored}
    df.attrs["split"] = "test (scored rows of test.csv + test_labels.csv; label = toxic column)"
    _check_unique(df, tpath)
    return df


def load_jigsaw(root: Path) -> pd.DataFrame:
    """The scored test rows. No Hub fallback: the Hub copy needs the manual Kaggle download too."""
    missing = missing_files(root, JIGSAW_FILES)
    if missing:
        raise _missing_error("jigsaw", root, missing)
    return _jigsaw_test_local(root)


# ----------------------------------------------------------------------------------------------------------------------
# generic CSV/TSV tier

def load_generic(root: Path, spec: TierSpec) -> pd.DataFrame:
    path = Path(spec.path)
    path = path if path.is_absolute() else root / path
    if not path.is_file():
        raise MissingDataError(f"tier {spec.name}: file {path} not found")
    delim = spec.delimiter or ("\t" if path.suffix.lower() == ".tsv" else ",")
    rows = read_table(path, delim, [spec.text_column, spec.label_column], quoting=True)
    toxic, drop = set(map(str, spec.toxic_values)), set(map(str, spec.drop_values))
    nontoxic = set(map(str, spec.nontoxic_values))
    recs, lines, dropped = [], [], {}
    for r in rows:
        value = r.fields[spec.label_column].strip()
        if value in drop:
            dropped[value] = dropped.get(value, 0) + 1
            continue
        if value not in toxic and nontoxic and value not in nontoxic:
            raise DataError(f"{path}:{r.line}: unknown {spec.label_column} value {value!r}; expected one of "
                            f"{sorted(toxic | nontoxic | drop)}")
        recs.append({"id": str(r.line), "text": _check_text(path, r.line, r.fields[spec.text_column]),
                     "label": int(value in toxic), "raw_label": value})
        lines.append(r.line)
    df = _frame(path, recs, lines)
    df.attrs["dropped"] = {f"label {k!r} (drop_values)": v for k, v in dropped.items()}
    df.attrs["split"] = f"all rows; toxic = {sorted(toxic)}"
    return df


# ----------------------------------------------------------------------------------------------------------------------
# helpers

def stratified_sample(df: pd.DataFrame, n: int | None, seed: int, column: str = "label") -> pd.DataFrame:
    """A seeded stratified subsample of n rows (all rows when n is None or ≥ len)."""
    if n is None or n >= len(df):
        return df
    from sklearn.model_selection import train_test_split
    counts = df[column].value_counts()
    strat = df[column] if counts.min() >= 2 and n >= len(counts) else None
    out, _ = train_test_split(df, train_size=n, stratify=strat, random_state=seed)
    out = out.sort_index().reset_index(drop=True)
    out.attrs.update(df.attrs, subsampled=f"{n} of {len(df)} rows (stratified, seed {seed})")
    return out


def card(df: pd.DataFrame, name: str, label_names: list[str] | None = None) -> dict:
    """A data card: rows, class balance, text lengths, provenance and anything a rule removed."""
    counts = df["label"].value_counts().sort_index()
    chars = df["text"].str.len()
    words = df["text"].str.split().str.len()
    return {
        "dataset": name,
        "source": df.attrs.get("source", ""),
        "split": df.attrs.get("split", ""),
        "rows": int(len(df)),
        "classes": {(label_names[int(k)] if label_names else str(k)): int(v) for k, v in counts.items()},
        "positive_rate": float(df["label"].mean()) if label_names is None or len(label_names) == 2 else None,
        "chars_median": float(chars.median()), "chars_p95": float(chars.quantile(0.95)),
        "words_median": float(words.median()), "words_p95": float(words.quantile(0.95)),
        "dropped": dict(df.attrs.get("dropped", {})),
        "subsampled": df.attrs.get("subsampled", ""),
    }
