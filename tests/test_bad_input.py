"""The bad-input table (README): every case exits non-zero from `aura run` with one line naming the file and row or
key, before any notebook runs. Run this file as a script to print the table with the messages it produces."""

import pytest
import yaml
from conftest import write

from aura_core.cli import main

OLID = "olid/olid-training-v1.0.tsv"
HEAD = "id\ttweet\tsubtask_a\tsubtask_b\tsubtask_c\n"


def olid_rows(root, rows):
    write(root / OLID, HEAD + "".join(rows), "\r\n")


# (case, what it does to a valid fixture data dir / which --set it passes, fragment the message must contain)
CASES = [
    ("missing data dir", lambda r: ["--set", f"data_dir={r}/nowhere"], "does not exist"),
    ("missing file", lambda r: (r / OLID).unlink(), "olid: missing"),
    ("wrong delimiter", lambda r: write(r / OLID, "id,tweet,subtask_a\n1,hi,OFF\n"), "olid-training-v1.0.tsv:1: missing column(s)"),
    ("missing column", lambda r: write(r / "toxigen/annotated_train.csv", "text,target_group,toxicity_ai,label\nb'x',asian,1,hate\n"),
     "annotated_train.csv:1: missing column(s) ['toxicity_human']"),
    ("unknown label value", lambda r: olid_rows(r, ["1\thello\tOFF\tUNT\tNULL\n", "2\tbye\tOFFENSIVE\tNULL\tNULL\n"]),
     "olid-training-v1.0.tsv:3: unknown subtask_a value 'OFFENSIVE'"),
    ("empty text", lambda r: olid_rows(r, ["1\thello\tOFF\tUNT\tNULL\n", "2\t  \tNOT\tNULL\tNULL\n"]),
     "olid-training-v1.0.tsv:3: empty or whitespace-only text"),
    ("undecodable bytes", lambda r: (r / "goemotions/dev.tsv").write_bytes(b"ok\t27\ta\nbad \xff\xfe\t2\tb\n"),
     "dev.tsv:2: bytes are not valid UTF-8"),
    ("duplicate ids", lambda r: olid_rows(r, ["7\thello\tOFF\tUNT\tNULL\n", "7\tagain\tNOT\tNULL\tNULL\n"]),
     "olid-training-v1.0.tsv:3: duplicate id '7'"),
    ("labels not aligned with test file", lambda r: write(r / "olid/labels-levela.csv", "101,OFF\n102,NOT\n"),
     "testset-levela.tsv:4: labels not aligned: id '103' has no label"),
    ("malformed row", lambda r: olid_rows(r, ["1\thello\tOFF\tUNT\n"]), "olid-training-v1.0.tsv:2: expected 5 fields"),
    ("unknown emotion id", lambda r: write(r / "goemotions/train.tsv", "fine\t27\ta\nodd\t42\tb\n"),
     "train.tsv:2: unknown emotion id 42"),
    ("Jigsaw label out of range", lambda r: write(r / "jigsaw/test_labels.csv",
                                                  "id,toxic,severe_toxic,obscene,threat,insult,identity_hate\na1,2,0,0,0,0,0\n")
     and ["--set", "tiers=[olid, jigsaw]"], "test_labels.csv:2: label values must be -1, 0 or 1"),
    ("partners' JSON tier: label not 0/1", lambda r: write(r / "aura_stress/jigsaw_test.json",
                                                           '[{"text": "a", "label": 1}, {"text": "b", "label": 2}]'),
     "jigsaw_test.json: record 1: 'label' must be 0 or 1, got 2"),
    ("partners' JSON tier: not an array", lambda r: write(r / "aura_stress/toxigen_test.json", '{"text": "a"}'),
     "toxigen_test.json: expected a JSON array"),
    ("unknown / misspelled param key", lambda r: ["--set", "batchsize=8"], "unknown param 'batchsize' (did you mean 'batch_size'?)"),
    ("wrong param type", lambda r: ["--set", "epochs=five"], "param 'epochs': expected int, got str 'five'"),
    ("negative learning rate", lambda r: ["--set", "lr_encoder=-2e-5"], "param 'lr_encoder': -2e-05 is out of range"),
    ("batch size 0", lambda r: ["--set", "batch_size=0"], "param 'batch_size': 0 is out of range (must be >= 1)"),
    ("threshold outside [0, 1]", lambda r: ["--set", "threshold=1.5"], "param 'threshold': 1.5 is out of range"),
    ("encoder path that is not a model", lambda r: ["--set", f"encoder={r}/olid"], "is not a model folder (no config.json)"),
]


def run_case(tmp_path, fixture_data, tiny_encoder, mutate, capsys):
    (tmp_path / "p.yaml").write_text(yaml.safe_dump({"name": "bad", "data_dir": str(fixture_data),
                                                     "encoder": tiny_encoder, "allow_hub": False}))
    extra = mutate(fixture_data)
    extra = extra if isinstance(extra, list) else []  # a mutation returns CLI args, or edits files
    code = main(["run", str(tmp_path / "p.yaml"), "--out", str(tmp_path / "run"), *extra])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("case, mutate, fragment", CASES, ids=[c[0] for c in CASES])
def test_bad_input_fails_in_one_line_naming_file_and_row_or_key(case, mutate, fragment, tmp_path, fixture_data,
                                                                 tiny_encoder, capsys):
    code, err = run_case(tmp_path, fixture_data, tiny_encoder, mutate, capsys)
    assert code != 0
    assert err.count("\n") == 1 and err.startswith("aura: error: "), err
    assert fragment in err, err
    assert not (tmp_path / "run" / "notebooks").exists()      # failed before any notebook ran


# what docs/data.md promises stops with one line (its "Bad input never produces quiet nonsense" paragraph) → the case here
# that shows it
PROMISED = {"a malformed row": "malformed row", "unknown label": "unknown label value", "missing column": "missing column",
            "wrong\ndelimiter": "wrong delimiter", "empty text": "empty text", "undecodable bytes": "undecodable bytes",
            "duplicate id": "duplicate ids", "a labels file not aligned with its test file": "labels not aligned with test file"}


def test_every_bad_input_the_docs_promise_to_stop_has_a_case_here():
    from conftest import REPO
    promise = (REPO / "docs" / "data.md").read_text().split("Bad input never produces quiet nonsense:", 1)[1].split("stops", 1)[0]
    assert all(words in promise for words in PROMISED), promise       # the docs still say what this file checks
    assert set(PROMISED.values()) <= {c[0] for c in CASES}


if __name__ == "__main__":  # print the docs' table with the messages each case really produces
    import contextlib
    import io
    import pathlib
    import re
    import tempfile

    import conftest

    class _Factory:
        def mktemp(self, name):
            return pathlib.Path(tempfile.mkdtemp(prefix=name))
    enc = conftest.tiny_encoder.__wrapped__(_Factory())
    print("| # | case | message (`aura run` exits 2) |\n|---|---|---|")
    for i, (case, mutate, _) in enumerate(CASES, 1):
        tmp = pathlib.Path(tempfile.mkdtemp())
        root = conftest.fixture_data.__wrapped__(tmp)
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            (tmp / "p.yaml").write_text(yaml.safe_dump({"name": "bad", "data_dir": str(root), "encoder": enc,
                                                        "allow_hub": False}))
            extra = mutate(root)
            main(["run", str(tmp / "p.yaml"), "--out", str(tmp / "run"), *(extra if isinstance(extra, list) else [])])
        msg = re.sub(r"/tmp/[^ :,']*?/data/", "<data>/", err.getvalue().strip()).replace(str(tmp), "<tmp>")
        msg = re.sub(r"/tmp/tiny_bert\w+", "<tiny_bert>", msg)
        print(f"| {i} | {case} | `{msg[:230]}{'…' if len(msg) > 230 else ''}` |")
