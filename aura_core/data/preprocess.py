"""Text normalisation, applied identically to training rows and every evaluation set."""
from __future__ import annotations

import re

import pandas as pd

_USER_RUN = re.compile(r"(?:@USER\b\s*){2,}")
_URL = re.compile(r"(?:https?://|www\.)\S+|\bURL\b", re.IGNORECASE)
_HASHTAG = re.compile(r"#(\w+)")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])")
_SPACES = re.compile(r"\s+")


def _hashtag_words(m: re.Match) -> str:
    return _CAMEL.sub(" ", m.group(1)).replace("_", " ")


def normalise_tweet(text: str) -> str:
    """'@USER @USER #DumpNike 😂 https://t.co/x' → '@USER Dump Nike face with tears of joy URL'."""
    import emoji
    text = _USER_RUN.sub("@USER ", text)
    text = _URL.sub("URL", text)
    text = _HASHTAG.sub(_hashtag_words, text)
    text = emoji.replace_emoji(text, replace=lambda _, data: " " + data["en"].strip(":").replace("_", " ") + " ")
    return _SPACES.sub(" ", text).strip()


def apply(df: pd.DataFrame, mode: str) -> pd.DataFrame:
    """A copy of df with `text` normalised (attrs kept); the frame itself when mode is none."""
    if mode == "none":
        return df
    if mode != "tweet":
        raise ValueError(f"preprocess {mode!r}: expected none or tweet")
    out = df.copy()
    out["text"] = [normalise_tweet(t) for t in df["text"]]
    out.attrs = dict(df.attrs, preprocess=mode)
    return out
