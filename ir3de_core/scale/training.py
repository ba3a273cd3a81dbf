"""Fitting from records in chunks: an in-memory list, or files streamed with bounded memory.

Both paths sum per-chunk `FitPart`s (statistics, per-domain score sums) and solve once, so they
give the router that ``IR3DERouter.fit`` gives on all the records. `fit_stream` never holds more
than one chunk of records: a file larger than memory fits, and with a checkpoint directory an
interrupted fit resumes where it stopped.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ir3de_core.data.loaders import DataFormat, expand_paths
from ir3de_core.data.records import Record
from ir3de_core.featurizers import Featurizer, make_featurizer
from ir3de_core.fit.parts import DocumentFrequencies, FitPart, needs_document_frequencies
from ir3de_core.fit.spec import FitSpec
from ir3de_core.router import IR3DERouter
from ir3de_core.scale.checkpoint import (
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from ir3de_core.scale.consumed import ConsumedInput
from ir3de_core.scale.streaming import ProgressBar, file_format, iter_chunks, iter_positioned

__all__ = ["StreamResult", "fit_records", "fit_stream"]


@dataclass(frozen=True)
class StreamResult:
    """What `fit_stream` did.

    Attributes:
        router: the fitted router.
        n_records: records the router was fitted on.
        resumed_from: records already in the checkpoint when this run started (0 if fresh).
    """

    router: IR3DERouter
    n_records: int
    resumed_from: int


def fit_records(
    router: IR3DERouter,
    records: Sequence[Record],
    *,
    chunk_size: int = 4096,
    progress: bool = True,
) -> IR3DERouter:
    """Fit `router` on `records` chunk by chunk (statistics add up, so this equals one fit).

    In domain mode without an explicit ``expert_map``, the expert of each domain is the one with
    the highest mean score over the domain's records, when the records have scores.
    """
    if not records:
        msg = "no records to fit on"
        raise ValueError(msg)
    spec = router.fit_spec([r.prompt for r in records])  # fits TF-IDF if any
    part = FitPart(n_parts=0)
    with tqdm(total=len(records), unit="prompt", desc="fit", disable=not progress) as bar:
        for start in range(0, len(records), chunk_size):
            chunk = records[start : start + chunk_size]
            part = part + spec.records_part(chunk)
            bar.update(len(chunk))
    return router.fit_part(part, spec)


def fit_stream(
    router: IR3DERouter,
    paths: Sequence[str | Path],
    *,
    format: DataFormat = "auto",  # the CLI's word
    split: str | None = None,
    chunk_size: int = 4096,
    progress: bool = True,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 16,
) -> StreamResult:
    """Fit `router` on files streamed in chunks of `chunk_size` records (bounded memory).

    Args:
        router: the router to fit (its settings are used; it is fitted in place).
        paths: files or directories of records (JSONL and CSV stream; RouterDC JSON is read whole).
        format: ``auto`` (from each suffix), ``jsonl``, ``routerdc`` or ``routerbench``.
        split: in directories, read only files named ``*_<split>.*``.
        chunk_size: records featurized at once.
        progress: show a progress bar.
        checkpoint: directory to save the sums in every `checkpoint_every` chunks; a checkpoint
            already there (same settings, same files) is resumed instead of starting afresh.
        checkpoint_every: chunks between checkpoints.

    A TF-IDF ``hashing`` featurizer first streams the files once to count document frequencies
    (the IDF must be fixed before any prompt is featurized); the IDF is checkpointed too.
    """
    if checkpoint_every < 1:
        msg = f"checkpoint_every must be ≥ 1 chunk, got {checkpoint_every}"
        raise ValueError(msg)
    files = expand_paths(paths, split)
    spec = router.fit_spec()
    directory = Path(checkpoint) if checkpoint is not None else None
    consumed = ConsumedInput(files, [file_format(p, format) == "jsonl" for p in files])
    state = _start(directory, _settings_json(spec), files, consumed)
    if state.featurizer_state:
        spec = FitSpec.from_json(spec.to_json(), state.featurizer_state)
    elif needs_document_frequencies(spec.featurizer):
        frequencies = _frequencies(spec.featurizer, files, format, chunk_size, progress)
        spec = router.fit_spec(frequencies=frequencies)
        whole = ConsumedInput(files, [False] * len(files)).entries(len(files) - 1, 0)
        state = replace(state, featurizer_state=spec.state_arrays(), learned_from=whole)
        if directory is not None:
            save_checkpoint(directory, state)
    resumed = state.part.n_records
    if not state.complete:
        state = _accumulate(spec, files, format, state, directory, chunk_size,
                            checkpoint_every, progress, consumed)  # fmt: skip
    router.fit_part(state.part, spec)
    return StreamResult(router, state.part.n_records, resumed)


def _settings_json(spec: FitSpec) -> dict[str, Any]:
    """The settings that sums depend on, as JSON: a checkpoint resumes only with equal ones."""
    return dict(json.loads(json.dumps(spec.to_json(), sort_keys=True)))


def _start(
    directory: Path | None, settings: dict[str, Any], files: list[Path], consumed: ConsumedInput
) -> Checkpoint:
    listing = [str(p.resolve()) for p in files]
    fresh = Checkpoint(settings=settings, files=listing)
    if directory is None:
        return fresh
    found = load_checkpoint(directory)
    if found is None:
        return fresh
    if found.settings != settings:
        changed = sorted(
            f"{group}.{key}"
            for group in ("settings", "featurizer")
            for key in set(found.settings.get(group, {})) | set(settings[group])
            if found.settings.get(group, {}).get(key) != settings[group].get(key)
        )
        msg = (
            f"the checkpoint in {directory} was written with other settings (differing: "
            f"{', '.join(changed)}; it has featurizer {found.settings.get('featurizer')}): rerun "
            "with the same options, or delete the checkpoint to start afresh"
        )
        raise CheckpointError(msg)
    if found.files != listing:
        msg = (
            f"the checkpoint in {directory} was written for other input files "
            f"({found.files}): use the same files, or delete it"
        )
        raise CheckpointError(msg)
    stale = consumed.mismatch(found.consumed)
    if stale is None and found.learned_from:  # TF-IDF weights of exactly these files
        stale = ConsumedInput(files, [False] * len(files)).mismatch(found.learned_from, whole=True)
    if stale is None:
        stale = _grown_behind(found, files)
    if stale is not None:
        msg = (
            f"the checkpoint in {directory} summed bytes of {stale} that have changed since "
            "(the file was edited, replaced, or grew after it was read): delete the checkpoint "
            "to start afresh"
        )
        raise CheckpointError(msg)
    if found.complete and found.consumed and files[-1].stat().st_size > found.consumed[-1]["bytes"]:
        return replace(found, complete=False)  # the last file grew: read on from where we stopped
    return found  # equal featurizer settings: the sums have the featurizer's width


def _grown_behind(found: Checkpoint, files: list[Path]) -> str | None:
    """A file read to its end before the resume position that has grown since (its new bytes
    would never be read), else None."""
    for index, entry in enumerate(found.consumed[:-1]):
        if files[index].stat().st_size != entry["bytes"]:
            return str(files[index])
    return None


def _frequencies(
    featurizer: Featurizer, files: list[Path], format: DataFormat, chunk_size: int, progress: bool
) -> DocumentFrequencies:
    counter = make_featurizer(DocumentFrequencies.counting_config(featurizer))
    total: DocumentFrequencies | None = None
    bar = ProgressBar(files, format, desc="idf", enabled=progress)
    for chunk, end in iter_chunks(iter_positioned(files, format), chunk_size):
        part = DocumentFrequencies.from_texts(counter, [r.prompt for r in chunk])
        total = part if total is None else total + part
        bar.update(len(chunk), end)
    bar.close()
    if total is None:
        msg = f"no records found in {[str(p) for p in files]}"
        raise ValueError(msg)
    return total


def _accumulate(
    spec: FitSpec,
    files: list[Path],
    format: DataFormat,
    state: Checkpoint,
    directory: Path | None,
    chunk_size: int,
    every: int,
    progress: bool,
    consumed: ConsumedInput,
) -> Checkpoint:
    bar = ProgressBar(files, format, desc="fit", start=state.position,
                      done=state.part.n_records, enabled=progress)  # fmt: skip
    part, position = state.part, state.position
    for n, (chunk, position) in enumerate(
        iter_chunks(iter_positioned(files, format, state.position), chunk_size), start=1
    ):
        part = part + spec.records_part(chunk)
        bar.update(len(chunk), position)
        if directory is not None and n % every == 0:
            read = consumed.entries(position.file, position.offset)
            save_checkpoint(directory, replace(state, position=position, part=part, consumed=read))
    bar.close()
    final = replace(state, position=position, part=part, complete=True)
    if directory is not None:
        read = consumed.entries(position.file, position.offset)
        save_checkpoint(directory, replace(final, consumed=read))
    return final
