"""Featurizers: the token featurizer is a plain table lookup; truncation; configs; bad settings."""

from __future__ import annotations

import numpy as np
import pytest

from ir3de_core.featurizers import (
    HashingFeaturizer,
    SentenceFeaturizer,
    TokenEmbeddingFeaturizer,
    Truncation,
    is_token_featurizer,
    make_featurizer,
)

TEXTS = ["Solve 3x + 7 = 22 for x.", "Traduis « bonjour » en anglais, s'il te plaît."]


def test_token_featurizer_equals_the_models_own_embedding_lookup() -> None:
    """Rows equal what the transformer's embedding layer returns for the tokenizer's ids."""
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    featurizer = TokenEmbeddingFeaturizer(max_tokens=None)
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(str(featurizer.model_dir))
    model = transformers.AutoModel.from_pretrained(str(featurizer.model_dir))
    for text, rows, ids in zip(
        TEXTS, featurizer.transform_tokens(TEXTS), featurizer.token_ids(TEXTS), strict=True
    ):
        expected_ids = hf_tokenizer(text, add_special_tokens=False)["input_ids"]
        assert ids.tolist() == expected_ids
        with torch.no_grad():
            expected = model.get_input_embeddings()(torch.tensor(expected_ids)).numpy()
        np.testing.assert_array_equal(rows, expected)
    pooled = featurizer.transform(TEXTS)
    np.testing.assert_allclose(
        pooled[0], featurizer.transform_tokens(TEXTS[:1])[0].mean(axis=0), rtol=1e-6
    )
    assert pooled.shape == (2, 384) and featurizer.n_features == 384


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [("head", [0, 1, 2, 3]), ("tail", [6, 7, 8, 9]), ("head+tail", [0, 7, 8, 9])],
)
def test_truncation_keeps_the_chosen_end(strategy, expected) -> None:
    assert Truncation(4, strategy).keep(10).tolist() == expected
    assert Truncation(4, strategy).keep(3).tolist() == [0, 1, 2]
    assert Truncation(None, strategy).keep(10).tolist() == list(range(10))


def test_truncation_spans_and_validation() -> None:
    assert Truncation(4, "head+tail").spans(10) == [(0, 1), (7, 10)]
    with pytest.raises(ValueError, match="unknown truncation strategy"):
        Truncation(4, "middle")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_tokens"):
        Truncation(0)


def test_tail_truncation_keeps_the_question_of_a_few_shot_prompt() -> None:
    shots = " ".join(f"Example {i}: the answer is B." for i in range(40))
    prompt = shots + " Question: what is the capital of Peru?"
    ids = TokenEmbeddingFeaturizer(max_tokens=16, truncation="tail").token_ids([prompt])[0]
    text = " ".join(TokenEmbeddingFeaturizer().token_strings(ids))
    assert ids.size == 16 and "peru" in text and "example" not in text


def test_hashing_featurizer_tfidf_and_config_round_trip() -> None:
    featurizer = HashingFeaturizer(64).fit(TEXTS)
    X = featurizer.transform(TEXTS)
    assert X.shape == (2, 64)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, rtol=1e-5)
    rebuilt = make_featurizer(featurizer.get_config())
    rebuilt.load_state_arrays(featurizer.state_arrays())  # type: ignore[attr-defined]
    np.testing.assert_array_equal(rebuilt.transform(TEXTS), X)
    with pytest.raises(RuntimeError, match="not fitted"):
        HashingFeaturizer(64).transform(TEXTS)


def test_hashing_one_prompt_equals_scikit_learns_batch_path_bit_for_bit() -> None:
    """A served prompt is hashed in Python (`_hashed_counts`), a batch by scikit-learn's
    hasher: the same features, bit for bit, truncated or not, and through a pickle."""
    import pickle

    from ir3de_core.featurizers.hashing import _FAST_BELOW

    texts = [
        *TEXTS,
        "Ünïcödé 数学 problème x² ²x, the THE the",
        "  leading\tand\ntrailing  whitespace  ",
        " ".join(["word"] * 700 + ["tail", "end"]),  # truncated head+tail
        "a",  # no token of two characters: an all-zero row
    ]
    featurizer = HashingFeaturizer(256, max_tokens=512).fit(texts)
    batch = texts * (_FAST_BELOW // len(texts) + 1)  # scikit-learn's path
    one_by_one = np.vstack([featurizer.transform([t]) for t in batch])
    assert featurizer.transform(batch).tobytes() == one_by_one.tobytes()
    assert not one_by_one[-1].any() and one_by_one[0].any()
    copied = pickle.loads(pickle.dumps(featurizer))
    assert copied.transform(texts[:1]).tobytes() == one_by_one[:1].tobytes()


def test_hashing_truncation_counts_words() -> None:
    featurizer = HashingFeaturizer(64, tfidf=False, max_tokens=2, truncation="tail")
    np.testing.assert_array_equal(featurizer.transform(["a b c d"]), featurizer.transform(["c d"]))


def test_sentence_featurizer_gives_normalised_embeddings_with_similar_meaning_close() -> None:
    pytest.importorskip("sentence_transformers")
    featurizer = SentenceFeaturizer()
    X = featurizer.transform(
        ["How do I sort a list in Python?", "Sorting a Python list", "Bake a cake"]
    )
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, rtol=1e-5)
    assert X[0] @ X[1] > X[0] @ X[2] + 0.3


def test_registry_builds_only_known_kinds_and_checks_settings() -> None:
    assert is_token_featurizer(make_featurizer("tokens"))
    assert not is_token_featurizer(make_featurizer("hashing"))
    with pytest.raises(ValueError, match=r"unknown featurizer 'os\.system'"):
        make_featurizer({"kind": "os.system"})
    with pytest.raises(ValueError, match="bad settings for the 'hashing' featurizer"):
        make_featurizer({"kind": "hashing", "n_buckets": 3})
    with pytest.raises(TypeError, match="expected a featurizer"):
        make_featurizer(42)  # type: ignore[arg-type]


def test_model_is_never_downloaded() -> None:
    with pytest.raises(FileNotFoundError, match="never downloads"):
        TokenEmbeddingFeaturizer(model="bert-base-uncased").token_ids(["hi"])
