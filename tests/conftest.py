"""Shared fixtures: fixture files in the authors' published formats, a tiny random BERT, the real data when present."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
REAL_DATA = Path(os.environ.get("AURA_DATA_DIR") or REPO.parent / "shared" / "data")


TASKS = ["toxicity", "emotion"]  # the multi-task heads


def pytest_collection_modifyitems(config, items):
    """The files with the longest tests first (the SLURM cluster's, then those with most slow tests), each file's tests
    kept together and in order: `make test` hands whole files to its two workers (-n 2 --dist loadfile) in this order,
    so the longest file does not start last and leave one core idle."""
    weight: dict = {}
    for item in items:
        w = 100 if item.get_closest_marker("slurm") else 1 if item.get_closest_marker("slow") else 0
        weight[item.path] = weight.get(item.path, 0) + w
    items.sort(key=lambda item: -weight[item.path])


def tiny_params(encoder, **kw):
    """Params of a training test on the tiny encoder (CPU, seed 0, a few rows)."""
    from aura_core.base.params import Params
    base = dict(encoder=encoder, epochs=2, batch_size=4, grad_accum=2, max_length=32, eval_batch_size=8,
                device="cpu", seed=0)
    return Params(**{**base, **kw})


def frames(n=12):
    """A paired training frame of 2n rows: n OLID-like (alternating labels), n GoEmotions-like (sadness/joy)."""
    from aura_core.training.paradigms import paired_frame
    olid = pd.DataFrame({"text": [f"nasty tweet {i} idiot" if i % 2 else f"calm tweet {i}" for i in range(n)],
                         "label": [i % 2 for i in range(n)]})
    ge = pd.DataFrame({"text": [f"so sad {i}" if i % 3 else f"wow joy {i}" for i in range(n)],
                       "label": [4 if i % 3 else 3 for i in range(n)]})
    return paired_frame(olid, ge)


@pytest.fixture(scope="session")
def real_data() -> Path:
    if not (REAL_DATA / "olid" / "olid-training-v1.0.tsv").is_file():
        pytest.skip(f"real data not found at {REAL_DATA} (set AURA_DATA_DIR to the folder with olid/, goemotions/, ...)")
    return REAL_DATA


def write_metrics(run_dir: Path, tiers: list, threshold: float = 0.5, emotion_f1: float | None = 0.3,
                  selected_epoch: int = 1, summary: dict | None = None) -> dict:
    """A finished run's metrics.json built from the score objects (results.TierScore, StressScores), as 04 writes
    it: a change to the schema breaks these fixtures as it breaks the readers. Returns what was written."""
    from aura_core.base.results import StressScores
    from aura_core.base.run_folder import RunFolder
    scores = StressScores(threshold, {t.key: t for t in tiers})
    rest = {"delta_f1": scores.delta_f1,
            "emotion_goemotions_test": {"macro_f1": emotion_f1} if emotion_f1 is not None else
            {"not_applicable": "single-task run"},
            "summary": summary or {"shortcut_gap": 0.0, "pred_over_true_pos_rate": {}}}
    metrics = {"stress": StressScores(threshold, scores.tiers, rest).to_json(),
               "train": {"selected_epoch": selected_epoch}}
    RunFolder(run_dir).path.mkdir(parents=True, exist_ok=True)
    RunFolder(run_dir).metrics.write_text(json.dumps(metrics))
    return metrics


def write(path: Path, text: str, newline: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))
    return path


@pytest.fixture
def fixture_data(tmp_path) -> Path:
    return make_fixture_data(tmp_path / "data")


def make_fixture_data(root: Path) -> Path:
    """A data dir in the published layouts: OLID (TAB, no quoting, CRLF), GoEmotions, ToxiGen (b'...' texts),
    Jigsaw (Kaggle, with -1 rows), the partners' JSON tiers (aura_stress/), a generic CSV."""
    write(root / "olid/olid-training-v1.0.tsv",
          "id\ttweet\tsubtask_a\tsubtask_b\tsubtask_c\n"
          "1\t@USER She should ask a few native Americans\tOFF\tUNT\tNULL\n"
          "2\t\"@USER Someone should'veTaken\"\" this to a volcano. \"\"\"\tOFF\tUNT\tNULL\n"
          + "".join(f"{10 + i}\tnormal tweet number {i} URL\tNOT\tNULL\tNULL\n" for i in range(12))
          + "".join(f"{40 + i}\tnasty tweet {i} @USER\tOFF\tTIN\tIND\n" for i in range(6)), "\r\n")
    write(root / "olid/testset-levela.tsv", "id\ttweet\n101\tfirst test tweet\n102\tsecond \"quoted\" tweet\n"
          "103\tthird one\n", "\r\n")
    write(root / "olid/labels-levela.csv", "101,OFF\n102,NOT\n103,NOT\n", "\r\n")  # this copy has no header
    write(root / "goemotions/emotions.txt", "\n".join(
        ["admiration", "amusement", "anger", "annoyance", "approval", "caring", "confusion", "curiosity", "desire",
         "disappointment", "disapproval", "disgust", "embarrassment", "excitement", "fear", "gratitude", "grief", "joy",
         "love", "nervousness", "optimism", "pride", "realization", "relief", "remorse", "sadness", "surprise",
         "neutral"]))
    write(root / "goemotions/ekman_mapping.json", '{"anger": ["anger", "annoyance", "disapproval"], "disgust": ["disgust"], '
          '"fear": ["fear", "nervousness"], "joy": ["joy", "amusement", "approval", "excitement", "gratitude", "love", '
          '"optimism", "relief", "pride", "admiration", "desire", "caring"], "sadness": ["sadness", "disappointment", '
          '"embarrassment", "grief", "remorse"], "surprise": ["surprise", "realization", "confusion", "curiosity"]}')
    ge = ("My favourite food is anything I didn't have to cook myself.\t27\tid1\n"
          "WHY THE FUCK IS BAYLESS ISOING\t2\tid2\n"
          "\"The last time it happened I just said, \"\"No\"\" and closed the door\"\t17,2\tid3\n"
          "so gross\t11\tid4\n" "scary stuff\t14,19\tid5\n" "so sad\t25\tid6\n" "wow really?\t26,7\tid7\n")
    for split in ("train", "dev", "test"):
        write(root / f"goemotions/{split}.tsv", ge)
    write(root / "toxigen/annotated_train.csv",
          "text,target_group,factual?,ingroup_effect,lewd,framing,predicted_group,stereotyping,intent,toxicity_ai,"
          "toxicity_human,predicted_author,label,actual_method\n"
          "b'asians are trying to take over the world',asian,opinion,x,x,x,x,x,5,5,5,human,hate,TopK\n"
          "\"b\"\"they\\xe2\\x80\\x99re fine, aren't they\"\"\",women,opinion,x,x,,x,x,1,1,1.333,human,neutral,CBS\n"
          "b'it\\'s a borderline one',black,opinion,x,x,x,x,x,3,2.5,3,ai,hate,TopK\n")
    write(root / "jigsaw/test.csv", "id,comment_text\na1,\"you are great\"\na2,\"you idiot\"\na3,\"unscored, comma\"\n")
    write(root / "jigsaw/test_labels.csv", "id,toxic,severe_toxic,obscene,threat,insult,identity_hate\n"
          "a1,0,0,0,0,0,0\na2,1,0,0,0,1,0\na3,-1,-1,-1,-1,-1,-1\n")
    write(root / "jigsaw/train.csv", "id,comment_text,toxic,severe_toxic,obscene,threat,insult,identity_hate\n"
          "t1,hello,0,0,0,0,0,0\nt2,\"multi\nline idiot\",1,0,0,0,1,0\n")
    # the partners' own L2/L3 files (aura_stress/): JSON arrays of {text, label, ...}, extra fields kept
    write(root / "aura_stress/jigsaw_test.json", json.dumps([
        {"text": "you idiot", "label": 1, "label_name": "toxic", "toxicity_score": 0.9},
        {"text": "have a nice day", "label": 0, "label_name": "non-toxic", "toxicity_score": 0.0},
        {"text": "what a gross idea, idiot", "label": 1, "label_name": "toxic", "toxicity_score": 0.7},
        {"text": "thanks for sharing", "label": 0, "label_name": "non-toxic", "toxicity_score": 0.1}], indent=2))
    write(root / "aura_stress/toxigen_test.json", json.dumps([
        {"text": "asians are trying to take over the world", "label": 1, "label_name": "toxic",
         "target_group": "asian folks"},
        {"text": "black people are great neighbours", "label": 0, "label_name": "non-toxic",
         "target_group": "black/african-american folks"},
        {"text": "those people are gross", "label": 1, "label_name": "toxic",
         "target_group": "black folks / african-americans"},
        {"text": "women can do any job", "label": 0, "label_name": "non-toxic", "target_group": "women"}]))
    write(root / "forum/posts.csv", "file_id,label,text\n1_1,noHate,a calm sentence\n1_2,hate,a hateful sentence\n"
          "1_3,relation,depends on context\n1_4,idk/skip,unclear\n1_5,noHate,\"another, calm one\"\n")
    return root


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> str:
    """A 2-layer, 32-wide random BERT with a word-level vocab: fast enough to train in a test."""
    from transformers import BertConfig, BertModel, BertTokenizerFast
    d = tmp_path_factory.mktemp("tiny_bert")
    words = ("the a is you are not this that tweet user url good bad nasty calm hate love sad fear joy wow gross "
             "idiot great normal number first second third one test so really i it to of and what").split()
    vocab = list(dict.fromkeys(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words
                               + list("abcdefghijklmnopqrstuvwxyz0123456789@#!?.,'\"")))  # no duplicate entries
    (d / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tok = BertTokenizerFast.from_pretrained(d)  # reads vocab.txt (the vocab_file= argument is gone in transformers 5)
    assert tok.convert_tokens_to_ids("gross") == vocab.index("gross"), "tiny tokenizer did not load its vocab"
    tok.save_pretrained(d)
    import torch
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128)
    BertModel(cfg).save_pretrained(d)
    return str(d)


def write_tiny_base(path: Path, data: Path, encoder: str, **over) -> Path:
    """The base profile of a tiny real grid: fixture data, the tiny encoder, one epoch, no hub."""
    path.write_text(yaml.safe_dump({"name": "tiny", "data_dir": str(data), "encoder": encoder, "allow_hub": False,
                                    "epochs": 1, "batch_size": 8, "olid_dev_fraction": 0.3,
                                    "claims": str(REPO / "params" / "claims.yaml"), **over}))
    return path


def run_mini(data: Path, encoder: str, folder: Path, **over):
    """A whole in-process run (01 → 04) on fixture files and the tiny encoder: (params, run_dir, tune, stress)."""
    from aura_core.base import run_folder
    from aura_core.running import pipeline
    from aura_core.scoring import scorers
    prof = folder / "p.yaml"
    prof.parent.mkdir(parents=True, exist_ok=True)
    prof.write_text(yaml.safe_dump({"name": "mini", "data_dir": str(data), "encoder": encoder, "epochs": 2,
                                    "batch_size": 4, "grad_accum": 1, "max_length": 32, "olid_dev_fraction": 0.3,
                                    "device": "cpu", "allow_hub": False,
                                    "claims": str(REPO / "params" / "claims.yaml"), **over}))
    run_dir = folder / "run"
    p = run_folder.init_run_dir(prof, run_dir)
    pipeline.data_prep(p, run_dir)
    pipeline.train_stage(p, run_dir)
    scorer = scorers.load_scorer(run_dir, p)
    tuned = pipeline.tune(p, run_dir, scorer, pipeline.prepared(p, run_dir).dev)
    return p, run_dir, tuned, pipeline.stress_test(p, run_dir, scorer)


@pytest.fixture
def mini_run(fixture_data, tiny_encoder, tmp_path):
    """run_mini on this test's fixture data; call it with param overrides."""
    return lambda **over: run_mini(fixture_data, tiny_encoder, tmp_path, **over)


@pytest.fixture(scope="session")
def slurm_cluster():
    """A real single-node SLURM cluster (munge, MariaDB, slurmdbd, slurmctld, slurmd: tests/slurm/cluster.sh) for the
    whole test run, with SLURM_CONF pointing at it; skipped with the script's reason where it cannot start."""
    folder = Path(tempfile.mkdtemp(prefix="aura-slurm-"))
    script = REPO / "tests" / "slurm" / "cluster.sh"
    started = subprocess.run(["bash", str(script), "start", str(folder)], capture_output=True, text=True, timeout=900)
    if started.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        reason = (started.stderr.strip().splitlines() or [f"exit {started.returncode}"])[-1]
        pytest.skip(f"no SLURM cluster: {reason}")
    before = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(folder / "slurm.conf")
    try:
        yield folder
    finally:
        timeline = subprocess.run(["sacct", "-a", "-X", "-P", "-S", "2000-01-01", "--format=JobID,JobName%30,Submit,Start,"
                                   "End,Elapsed,State"], capture_output=True, text=True)
        (Path(tempfile.gettempdir()) / "aura-slurm-last-sacct.txt").write_text(timeline.stdout + timeline.stderr)
        subprocess.run(["bash", str(script), "stop", str(folder)], capture_output=True, timeout=300)
        if before is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = before
        shutil.rmtree(folder, ignore_errors=True)
