import json

import pytest
from conftest import write

from aura_core.base.params import TierSpec, resolve_data_dir
from aura_core.data import loaders as D

# ---- published formats ------------------------------------------------------------------------------------------------

def test_olid_train_crlf_no_quoting_keeps_quotes(fixture_data):
    df = D.load_olid(fixture_data, "train", allow_hub=False)
    assert len(df) == 20 and df["label"].sum() == 8
    assert df.loc[df["id"] == "2", "text"].item() == "\"@USER Someone should'veTaken\"\" this to a volcano. \"\"\""
    assert not df["text"].str.contains("\r").any()


@pytest.mark.parametrize("header", ["", "id,label\n", "id,subtask_a\n"])
def test_olid_test_labels_with_or_without_header(fixture_data, header):
    write(fixture_data / "olid/labels-levela.csv", header + "101,OFF\n102,NOT\n103,NOT\n", "\r\n")
    df = D.load_olid(fixture_data, "test", allow_hub=False)
    assert df.set_index("id")["label"].to_dict() == {"101": 1, "102": 0, "103": 0}
    assert df.loc[df["id"] == "102", "text"].item() == 'second "quoted" tweet'


def test_olid_dev_split_is_stratified_and_seeded(fixture_data):
    tr1, dev1 = D.olid_train_dev(fixture_data, 0.3, seed=1, allow_hub=False)
    tr2, dev2 = D.olid_train_dev(fixture_data, 0.3, seed=1, allow_hub=False)
    _, dev3 = D.olid_train_dev(fixture_data, 0.3, seed=2, allow_hub=False)
    assert list(dev1["id"]) == list(dev2["id"]) and set(dev1["id"]) != set(dev3["id"])
    assert set(tr1["id"]).isdisjoint(dev1["id"]) and len(tr1) + len(dev1) == 20
    assert dev1["label"].mean() == pytest.approx(8 / 20, abs=0.1)


def test_goemotions_ekman_mapping_and_multilabel_rules(fixture_data):
    df = D.load_goemotions(fixture_data, "train", "first", allow_hub=False)
    by_id = df.set_index("id")["label"].to_dict()
    # neutral 6, anger 0, joy 3 (first of "17,2"), disgust 1, fear 2, sadness 4, surprise 5
    assert by_id == {"id1": 6, "id2": 0, "id3": 3, "id4": 1, "id5": 2, "id6": 4, "id7": 5}
    assert df.loc[df["id"] == "id3", "text"].item() == 'The last time it happened I just said, "No" and closed the door'
    single = D.load_goemotions(fixture_data, "train", "single_only", allow_hub=False)
    # "17,2" (joy+anger) is dropped; "14,19" (fear+fear) and "26,7" (surprise+surprise) stay
    assert set(single["id"]) == {"id1", "id2", "id4", "id5", "id6", "id7"}
    assert list(single.attrs["dropped"].values()) == [1]


def test_toxigen_bytes_literals_and_label_rules(fixture_data):
    df = D.load_toxigen(fixture_data, "mean_gt_2.75", allow_hub=False)
    assert df["text"].tolist() == ["asians are trying to take over the world", "they\u2019re fine, aren't they",
                                   "it's a borderline one"]
    assert df.attrs["split"] == "annotated_train"
    assert df["label"].tolist() == [1, 0, 0]  # (2.5 + 3) / 2 = 2.75 is not > 2.75
    assert D.load_toxigen(fixture_data, "human_ge_3", False)["label"].tolist() == [1, 0, 1]
    assert D.load_toxigen(fixture_data, "human_gt_3", False)["label"].tolist() == [1, 0, 0]
    assert D.load_toxigen(fixture_data, "prompt_label", False)["label"].tolist() == [1, 0, 1]


def test_toxigen_prefers_the_annotated_test_split(fixture_data):
    src = (fixture_data / "toxigen/annotated_train.csv").read_text()
    write(fixture_data / "toxigen/annotated_test.csv", src.splitlines()[0] + "\n" + src.splitlines()[1] + "\n")
    df = D.load_toxigen(fixture_data, "mean_gt_2.75", allow_hub=False)
    assert df.attrs["split"] == "annotated_test" and len(df) == 1


@pytest.mark.parametrize("literal, text", [("b'plain'", "plain"), ('b"it\'s"', "it's"),
                                           ("b'caf\\xc3\\xa9'", "caf\u00e9"), ("not wrapped", "not wrapped")])
def test_decode_bytes_literal(literal, text):
    assert D.decode_bytes_literal(literal) == text


def test_jigsaw_drops_unscored_rows_and_counts_them(fixture_data):
    df = D.load_jigsaw(fixture_data)
    assert df.set_index("id")["label"].to_dict() == {"a1": 0, "a2": 1}
    assert df.attrs["dropped"] == {"unscored rows (test_labels.csv -1)": 1}


def test_generic_tier_drops_declared_values_and_rejects_unknown(fixture_data):
    spec = TierSpec(name="Forum", path="forum/posts.csv", toxic_values=["hate"], nontoxic_values=["noHate"],
                    drop_values=["relation", "idk/skip"])
    df = D.load_generic(fixture_data, spec)
    assert df["label"].tolist() == [0, 1, 0] and sum(df.attrs["dropped"].values()) == 2
    spec.drop_values = ["relation"]
    with pytest.raises(D.DataError, match=r"posts.csv:5: unknown label value 'idk/skip'"):
        D.load_generic(fixture_data, spec)


def test_hub_record_converters():
    olid = D.olid_from_hub_records({"text": ["a", "b"], "label": [0, 1]})
    assert olid["label"].tolist() == [0, 1]
    ge = D.goemotions_from_hub_records({"text": ["x", "y"], "labels": [[2], [17, 2]], "id": ["i", "j"]},
                                       {2: 0, 17: 3}, "single_only")
    assert ge["label"].tolist() == [0] and sum(ge.attrs["dropped"].values()) == 1


def test_stratified_sample_keeps_balance_and_is_seeded(fixture_data):
    df = D.load_olid(fixture_data, "train", allow_hub=False)
    a, b = D.stratified_sample(df, 10, 3), D.stratified_sample(df, 10, 3)
    assert len(a) == 10 and a["id"].tolist() == b["id"].tolist() and a["label"].sum() == 4
    assert "10 of 20" in a.attrs["subsampled"]
    assert D.stratified_sample(df, None, 3) is df


# ---- bad input: one line naming the file and row ----------------------------------------------------------------------

def _one_line(e):
    return "\n" not in str(e.value)


def test_missing_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("AURA_DATA_DIR", raising=False)
    with pytest.raises(D.DataError, match="AURA_DATA_DIR"):
        resolve_data_dir(None)
    with pytest.raises(D.DataError, match="does not exist"):
        resolve_data_dir(None, str(tmp_path / "nope"))


def test_missing_file_names_files_and_where_to_get_them(tmp_path):
    with pytest.raises(D.MissingDataError) as e:
        D.load_olid(tmp_path, "test", allow_hub=False)
    assert "testset-levela.tsv" in str(e.value) and "labels-levela.csv" in str(e.value) and "OLID" in str(e.value)
    with pytest.raises(D.MissingDataError, match="Kaggle"):
        D.load_jigsaw(tmp_path)


def test_missing_file_with_unreachable_hub_reports_both(tmp_path, monkeypatch):
    import datasets

    def offline(*a, **k):
        raise ConnectionError("hub unreachable")
    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(D.MissingDataError, match="Hub fallback failed too: ConnectionError: hub unreachable"):
        D.load_goemotions(tmp_path, "train", allow_hub=True)


@pytest.mark.parametrize("mutate, fragment", [
    (lambda r: write(r / "olid/olid-training-v1.0.tsv", "id,tweet,subtask_a\n1,hi,OFF\n"),
     "olid-training-v1.0.tsv:1: missing column(s)"),                                          # wrong delimiter
    (lambda r: write(r / "olid/olid-training-v1.0.tsv", "id\ttext\tsubtask_a\n1\thi\tOFF\n"),
     "missing column(s) ['tweet']"),                                                           # missing column
    (lambda r: write(r / "olid/olid-training-v1.0.tsv", "id\ttweet\tsubtask_a\n1\thi\tOFFENSIVE\n"),
     "olid-training-v1.0.tsv:2: unknown subtask_a value 'OFFENSIVE'"),                         # unknown label
    (lambda r: write(r / "olid/olid-training-v1.0.tsv", "id\ttweet\tsubtask_a\n1\thi\tOFF\n2\t   \tNOT\n"),
     "olid-training-v1.0.tsv:3: empty or whitespace-only text"),                               # empty text
    (lambda r: write(r / "olid/olid-training-v1.0.tsv", "id\ttweet\tsubtask_a\n1\thi\tOFF\n1\tho\tNOT\n"),
     "olid-training-v1.0.tsv:3: duplicate id '1'"),                                            # duplicate id
    (lambda r: write(r / "olid/olid-training-v1.0.tsv", "id\ttweet\tsubtask_a\n1\thi\tOFF\textra\n"),
     "olid-training-v1.0.tsv:2: expected 3 fields"),                                           # malformed row
    (lambda r: (r / "olid/olid-training-v1.0.tsv").write_bytes(b"id\ttweet\tsubtask_a\n1\th\xffi\tOFF\n"),
     "olid-training-v1.0.tsv:2: bytes are not valid UTF-8"),                                   # undecodable bytes
])
def test_bad_olid_train(fixture_data, mutate, fragment):
    mutate(fixture_data)
    with pytest.raises(D.DataError) as e:
        D.load_olid(fixture_data, "train", allow_hub=False)
    assert fragment in str(e.value) and _one_line(e)


def test_labels_not_aligned_with_test_file(fixture_data):
    write(fixture_data / "olid/labels-levela.csv", "101,OFF\n102,NOT\n999,NOT\n")
    with pytest.raises(D.DataError, match="labels not aligned.*'999'"):
        D.load_olid(fixture_data, "test", allow_hub=False)
    write(fixture_data / "olid/labels-levela.csv", "101,OFF\n102,NOT\n")
    with pytest.raises(D.DataError, match=r"testset-levela.tsv:4: labels not aligned: id '103' has no label"):
        D.load_olid(fixture_data, "test", allow_hub=False)


def test_bad_goemotions_label_id(fixture_data):
    write(fixture_data / "goemotions/dev.tsv", "fine\t27\tx1\nodd\t31\tx2\n")
    with pytest.raises(D.DataError, match=r"dev.tsv:2: unknown emotion id 31"):
        D.load_goemotions(fixture_data, "dev", allow_hub=False)


def test_jigsaw_labels_not_aligned(fixture_data):
    write(fixture_data / "jigsaw/test_labels.csv", "id,toxic,severe_toxic,obscene,threat,insult,identity_hate\n"
          "a1,0,0,0,0,0,0\na2,1,0,0,0,1,0\n")
    with pytest.raises(D.DataError, match=r"test.csv:4: labels not aligned: id 'a3'"):
        D.load_jigsaw(fixture_data)


# ---- the real files (row counts as in each SOURCE.md) ----------------------------------------------------------------

def test_real_olid_counts(real_data):
    tr, te = D.load_olid(real_data, "train", False), D.load_olid(real_data, "test", False)
    assert (len(tr), int(tr["label"].sum())) == (13240, 4400)
    assert (len(te), int(te["label"].sum())) == (860, 240)


def test_real_goemotions_counts(real_data):
    assert [len(D.load_goemotions(real_data, s, "first", False)) for s in ("train", "dev", "test")] == [43410, 5426, 5427]
    neutral_first = D.load_goemotions(real_data, "test", "first", False)
    assert set(neutral_first["label"]) == set(range(7))


def test_real_toxigen_counts(real_data):
    df = D.load_toxigen(real_data, "human_ge_3", False)
    assert (len(df), int(df["label"].sum())) == (8960, 3383)
    assert int(D.load_toxigen(real_data, "mean_gt_2.75", False)["label"].sum()) == 3368
    assert not df["text"].str.startswith(("b'", 'b"')).any()
    assert df["target_group"].nunique() == 13


def test_real_stormfront_counts(real_data):
    spec = TierSpec(name="Stormfront", path="stormfront/stormfront.csv", toxic_values=["hate"],
                    nontoxic_values=["noHate"], drop_values=["relation", "idk/skip"])
    df = D.load_generic(real_data, spec)
    assert (len(df), int(df["label"].sum())) == (9507 + 1196, 1196)
    assert df.attrs["dropped"] == {"label 'relation' (drop_values)": 168, "label 'idk/skip' (drop_values)": 73}


# ---- the partners' JSON tier files (aura_stress/) -------------------------------------------------------------------

@pytest.mark.parametrize("content, fragment", [
    ('[{"text": "a", "label": 1},\n {"text": "b" "label": 0}]', "t.json:2: not valid JSON"),
    ('{"text": "a", "label": 1}', "t.json: expected a JSON array of {text, label} records, got dict"),
    ("[]", "t.json: no records"),
    ('[{"text": "a", "label": 1}, ["b", 0]]', "t.json: record 1: expected an object with 'text' and 'label', got list"),
    ('[{"text": "a"}]', "t.json: record 0: missing 'label'"),
    ('[{"label": 1}]', "t.json: record 0: missing 'text'"),
    ('[{"text": 5, "label": 1}]', "t.json: record 0: 'text' must be a string, got int"),
    ('[{"text": "a", "label": 2}]', "t.json: record 0: 'label' must be 0 or 1, got 2"),
    ('[{"text": "a", "label": true}]', "t.json: record 0: 'label' must be 0 or 1, got True"),
    ('[{"text": "a", "label": 1}, {"text": "  ", "label": 0}]', "t.json: record 1: empty or whitespace-only text"),
    ('[{"text": "a", "label": 1, "target_group": "martians"}]', "t.json: record 0: unknown ToxiGen target_group 'martians'"),
])
def test_json_tier_errors_name_the_file_and_record(tmp_path, content, fragment):
    write(tmp_path / "t.json", content)
    with pytest.raises(D.DataError) as e:
        D.load_json_tier(tmp_path / "t.json")
    assert fragment in str(e.value) and "\n" not in str(e.value)


def test_json_tier_keeps_extra_fields_and_counts_duplicates(tmp_path):
    write(tmp_path / "t.json", json.dumps([{"text": "x", "label": 1, "toxicity_score": 0.9},
                                           {"text": "y", "label": 0, "toxicity_score": 0.1},
                                           {"text": "x", "label": 1, "toxicity_score": 0.8}]))
    df = D.load_json_tier(tmp_path / "t.json")
    assert df["id"].tolist() == ["0", "1", "2"] and df["toxicity_score"].tolist() == [0.9, 0.1, 0.8]
    assert len(df) == 3   # duplicates are kept (the file's authors scored them) and reported
    assert list(df.attrs["duplicates"].values()) == [1, 2]


def test_toxigen_groups_two_spellings_one_group(fixture_data):
    df = D.load_partners_tier(fixture_data, "partners_toxigen")
    assert df["target_group"].tolist() == ["asian", "black", "black", "women"]
    assert df["target_group_raw"].tolist()[1:3] == ["black/african-american folks", "black folks / african-americans"]
    assert len(D.TOXIGEN_GROUPS) == 15 and len(D.TOXIGEN_GROUP_NAMES) == 13
    assert D.load_toxigen(fixture_data, "mean_gt_2.75", False)["target_group"].tolist() == ["asian", "women", "black"]


def test_toxigen_partners_rule_and_the_share_table(fixture_data):
    assert D.toxigen_label({"toxicity_ai": 1, "toxicity_human": 2.5}, "human_ge_2.5") == 1
    assert D.toxigen_label({"toxicity_ai": 5, "toxicity_human": 2.49}, "human_ge_2.5") == 0   # human score only
    shares = D.toxigen_rule_shares(fixture_data).set_index("rule")   # human scores 5, 1.333, 3
    assert shares.loc["human_ge_2.5", "toxic"] == 2 and shares.loc["human_gt_3", "toxic"] == 1
    assert (shares["file"] == "toxigen/annotated_train.csv").all() and len(shares) == len(D.TOXIGEN_LABEL_RULES)


def test_missing_partners_file_names_it(fixture_data):
    (fixture_data / "aura_stress/jigsaw_test.json").unlink()
    with pytest.raises(D.MissingDataError, match="aura_stress: missing .*aura_stress/jigsaw_test.json"):
        D.load_partners_tier(fixture_data, "partners_jigsaw")


def test_real_partners_files(real_data):
    if not (real_data / "aura_stress/jigsaw_test.json").is_file():
        pytest.skip(f"the partners' files are not in {real_data}/aura_stress")
    l2 = D.load_partners_tier(real_data, "partners_jigsaw")
    l3 = D.load_partners_tier(real_data, "partners_toxigen")
    assert (len(l2), int(l2["label"].sum())) == (1588, 794)             # SOURCE.md
    assert (len(l3), int(l3["label"].sum())) == (940, 458)
    assert l3["target_group_raw"].nunique() == 15 and l3["target_group"].nunique() == 13
    assert "duplicates" not in l2.attrs and "duplicates" not in l3.attrs
