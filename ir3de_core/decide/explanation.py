"""Why a prompt went where it did: the tokens or words that most favoured the chosen group."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

from ir3de_core.decide.decision import Contribution

__all__ = ["merge_word_pieces", "occlusion_margins", "token_margins", "top_contributions"]

_WORD = re.compile(r"\S+")
_MAX_WORDS = 64
_CONTINUES = "##"  # WordPiece: the piece continues the word before it
_STARTS = ("\u0120", "\u2581")  # byte-level BPE ("Ġ"), SentencePiece ("▁"): the piece starts one


def token_margins(token_scores: NDArray[np.floating], g: int) -> NDArray[np.float64]:
    """Each token's score for group g minus its best other score.

    Args:
        token_scores: array of shape (t, k), per-token group scores.
        g: the chosen group.

    Returns:
        array of shape (t,).
    """
    scores = np.asarray(token_scores, dtype=np.float64)
    others = np.delete(scores, g, axis=1)
    return scores[:, g] - (others.max(axis=1) if others.size else 0.0)


def occlusion_margins(
    prompt: str, g: int, group_scores: Callable[[list[str]], NDArray[np.float64]]
) -> tuple[list[str], NDArray[np.float64]]:
    """How much group g's score drops when each word (of the first 64) is left out.

    Args:
        prompt: the routed text.
        g: the chosen group.
        group_scores: maps n texts to scores of shape (n, k).

    Returns:
        (the words, array of shape (n_words,) of score drops).
    """
    words = _WORD.findall(prompt)[:_MAX_WORDS]
    if len(words) < 2:
        return words, np.zeros(len(words))
    variants = [" ".join(words[:i] + words[i + 1 :]) for i in range(len(words))]
    base = group_scores([" ".join(words)])[0, g]
    return words, base - group_scores(variants)[:, g]


def merge_word_pieces(
    pieces: Sequence[str], margins: NDArray[np.floating]
) -> tuple[list[str], NDArray[np.float64]]:
    """Whole words from subword pieces, each with the sum of its pieces' margins.

    WordPiece marks a piece that continues a word (``'par', '##son'`` → ``'parson'``); byte-level
    BPE (``Ġ``) and SentencePiece (``▁``) mark a piece that starts one instead, and a tokenizer
    is read as such when any of its pieces has that mark.

    Args:
        pieces: t token strings, in prompt order.
        margins: array of shape (t,).

    Returns:
        (the w words, array of shape (w,) of summed margins).
    """
    values = np.asarray(margins, dtype=np.float64)
    marks_starts = any(p.startswith(_STARTS) for p in pieces)
    words: list[str] = []
    index = np.zeros(len(pieces), dtype=np.intp)
    for i, piece in enumerate(pieces):
        if marks_starts:
            starts, text = piece.startswith(_STARTS), piece.lstrip("".join(_STARTS))
        else:
            starts = not (piece.startswith(_CONTINUES) and len(piece) > len(_CONTINUES))
            text = piece if starts else piece[len(_CONTINUES) :]
        if starts or not words:
            words.append(text)
        else:
            words[-1] += text
        index[i] = len(words) - 1
    return words, np.bincount(index, weights=values, minlength=len(words)).astype(np.float64)


def top_contributions(
    units: Sequence[str], margins: NDArray[np.floating], top: int
) -> tuple[Contribution, ...]:
    """The `top` pieces with the largest summed margin (repeated pieces add up)."""
    totals: dict[str, float] = {}
    for unit, value in zip(units, np.asarray(margins).tolist(), strict=True):
        totals[unit] = totals.get(unit, 0.0) + value
    best = sorted(totals.items(), key=lambda kv: -kv[1])[:top]
    return tuple(Contribution(text, round(weight, 6)) for text, weight in best)
