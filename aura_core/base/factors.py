"""The factors a grid can vary, in one registry: which of the report's seven questions each answers, the param
whose Shapley value speaks for it, and, for the causes nobody asked about, what it changes in words.

A grid's configurations and comparisons name their factor (`factor:` or derived from the one param they change);
the answers, the unasked-causes section and the factorial's naming all read this table, so adding a candidate cause
touches this file only.
"""
from __future__ import annotations

from dataclasses import dataclass

# the comparison report's seven questions, in its order
QUESTION_TEXT = {
    1: "1. Training paradigm: interleaved single-task batches or joint paired batches?",
    2: "2. Pseudo-labelling: did OLID rows carry emotion labels and GoEmotions rows toxicity labels?",
    3: "3. Validation: separate toxicity and emotion sets, or a combined paired set?",
    4: "4. Preprocessing: any differences in text cleaning or tokenisation?",
    5: "5. Threshold: was the 0.5 toxicity threshold tuned on validation data?",
    6: "6. Random seed: was a fixed seed used, and how much does the seed alone move the numbers?",
    7: "7. Model selection: which epoch was evaluated?",
}


@dataclass(frozen=True)
class Factor:
    key: str                                  # the factor name grids use
    question: int | None = None               # the report's question it answers; None: a cause nobody asked about
    shapley_param: str | None = None          # the param whose Shapley value in a factorial answers for it
    title: str = ""                           # an unasked cause: the change, in words
    named_setting: tuple[str, object] | None = None   # a factorial config one setting away takes this name


FACTORS = [
    Factor("paradigm", 1, "paradigm"),
    Factor("batch_composition", 1, "paradigm"),
    # masked is paired without its pseudo-labels: the config one setting away answers question 2, not 1
    Factor("pseudo_labels", 2, "paradigm", named_setting=("paradigm", "masked")),
    Factor("validation", 3, "validation"),
    Factor("preprocess", 4, "preprocess"),
    Factor("threshold", 5, "threshold"),
    Factor("seed", 6),
    Factor("selection", 7, "selection"),
    Factor("uncertainty_form", title="The uncertainty loss as most public code writes it, exp(−s)·L + s (no ½)"),
    Factor("focal_loss", title="Focal loss (γ = 2) for the toxicity head"),
    Factor("sigmoid_head", title="A one-logit sigmoid toxicity head with binary cross-entropy"),
    Factor("single_learning_rate", title="One learning rate for every parameter"),
    Factor("pooler_pooling", title="BERT's tanh pooler as the sentence vector (pooling: pooler), from masked training"),
    Factor("pooler_pooling_paired", title="BERT's tanh pooler as the sentence vector, from paired training"),
    Factor("toxicity_class_weights", title="Inverse-frequency toxicity class weights, from masked training"),
    Factor("toxicity_class_weights_paired", title="Inverse-frequency toxicity class weights, from paired training"),
    Factor("weight_decay_scope",
           title="Weight decay on every parameter (biases, LayerNorm, s_i), from masked training"),
    Factor("weight_decay_scope_paired", title="Weight decay on every parameter, from paired training"),
    Factor("multilabel_emotion",
           title="A multi-label emotion head (one sigmoid per class, every label of a GoEmotions row), from masked "
                 "training"),
    Factor("multilabel_emotion_paired", title="A multi-label emotion head, from paired training"),
]

# views of the one table, in the shapes their readers use
QUESTIONS = [(tuple(f.key for f in FACTORS if f.question == n), text) for n, text in QUESTION_TEXT.items()]
UNASKED = [(f.key, f.title) for f in FACTORS if f.question is None]
SHAPLEY_PARAMS = {f.key: f.shapley_param for f in FACTORS if f.shapley_param}


def factor_name(param: str, value: object) -> str:
    """The factor a configuration one setting away from the baseline answers: its registered name, else the param."""
    return next((f.key for f in FACTORS if f.named_setting == (param, value)), param)
