"""Word-level language modelling data: Penn Treebank from its text files, and a tiny corpus.

Penn Treebank as Mikolov et al. prepared it (``ptb.train.txt``, ``ptb.valid.txt``,
``ptb.test.txt``: one sentence a line, words separated by spaces, rare words already
``<unk>``), the corpus of Zaremba et al. 2014 and of Freeman & Bruna's LSTM experiment. The
vocabulary is read from the training file, in order of first appearance, with ``<eos>``
appended to every line; a word of the validation or test file outside it is an error.

The token stream is *batchified* into ``B`` columns (:func:`batchify`: the stream cut into
``B`` equal contiguous parts, left over tokens dropped, as PyTorch's word-language-model
example) and cut into BPTT windows of ``T`` steps (:func:`bptt_windows`), each target the
next token. A :class:`~landscape.data.Dataset` holds one window of one column per row,
``x`` and ``y`` both ``(W·B, T)`` int64, so every tool that chunks ``(x, y)`` by rows works;
each row is evaluated from a zero LSTM state.

:func:`generated_corpus` makes a small corpus from a seeded sparse Markov chain over a few
dozen words, for tests and the quick reproduction (no file, no download).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from ._errors import DataError, check_choice
from ._validate import check_file, check_seed
from .data import Dataset

__all__ = [
    "EOS",
    "PTB_FILES",
    "Corpus",
    "batchify",
    "bptt_windows",
    "corpus_dataset",
    "generated_corpus",
    "ptb",
    "read_corpus",
    "tokenize",
]

EOS = "<eos>"
PTB_FILES = {"train": "ptb.train.txt", "valid": "ptb.valid.txt", "test": "ptb.test.txt"}


@dataclass(frozen=True)
class Corpus:
    """A vocabulary and three token streams.

    Attributes:
        vocab: word of each id (``vocab[i]``), in order of first appearance in ``train``.
        train, valid, test: ``(n,)`` int64 token ids.
    """

    vocab: tuple[str, ...]
    train: Tensor
    valid: Tensor
    test: Tensor


def tokenize(path: str | os.PathLike) -> list[str]:
    """The words of a text file, ``<eos>`` at the end of every line.

    Raises:
        DataError: missing, unreadable, non-UTF-8 or empty file.
    """
    path = check_file(path, "text file", exc=DataError)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataError(
            f"{path} is not UTF-8 text (byte {err.start}); give the PTB .txt files"
        ) from None
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror or err}") from None
    words = [w for line in text.splitlines() for w in (*line.split(), EOS)]
    if not any(w != EOS for w in words):
        raise DataError(f"{path} holds no words; a language-modelling file needs text")
    return words


def _ids(path: Path, words: list[str], index: dict[str, int]) -> Tensor:
    out = np.empty(len(words), dtype=np.int64)
    for i, w in enumerate(words):
        j = index.get(w)
        if j is None:
            line = words[:i].count(EOS) + 1
            raise DataError(
                f"{path}: word {w!r} (line {line}) is not in the training vocabulary; PTB's "
                "files map rare words to <unk>, so valid/test words must occur in train"
            )
        out[i] = j
    return torch.from_numpy(out)


def read_corpus(directory: str | os.PathLike) -> Corpus:
    """Penn Treebank's three files from ``directory`` (vocabulary from the training file).

    Raises:
        DataError: a missing folder or file, an empty file, or a valid/test word that the
            training file does not have.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"Penn Treebank directory not found: {directory}")
    missing = [f for f in PTB_FILES.values() if not (directory / f).is_file()]
    if missing:
        raise DataError(
            f"{directory} lacks {', '.join(missing)}; expected ptb.train.txt, ptb.valid.txt "
            "and ptb.test.txt (word level, as in Mikolov's simple-examples/data)"
        )
    words = {k: tokenize(directory / f) for k, f in PTB_FILES.items()}
    vocab = tuple(dict.fromkeys(words["train"]))
    index = {w: i for i, w in enumerate(vocab)}
    ids = {k: _ids(directory / PTB_FILES[k], w, index) for k, w in words.items()}
    return Corpus(vocab, ids["train"], ids["valid"], ids["test"])


def batchify(ids: Tensor, columns: int) -> Tensor:
    """``(T, B)``: the stream cut into ``B = columns`` contiguous parts, side by side.

    Column ``b`` holds tokens ``b·T … (b+1)·T − 1``; the last ``len % B`` tokens are dropped.

    Raises:
        DataError: fewer tokens than columns.
    """
    if columns < 1:
        raise DataError(f"columns must be a positive integer, got {columns}")
    t = ids.shape[0] // columns
    if t < 2:
        raise DataError(
            f"{ids.shape[0]} tokens cannot fill {columns} columns of at least 2 tokens; "
            "use fewer columns (batch_size)"
        )
    return ids[: t * columns].reshape(columns, t).T.contiguous()


def bptt_windows(cols: Tensor, bptt: int) -> tuple[Tensor, Tensor]:
    """Inputs and next-token targets of every full BPTT window, one row per (window, column).

    Window ``w`` of column ``b`` is row ``w·B + b``: ``x = cols[w·T : (w+1)·T, b]`` and
    ``y = cols[w·T + 1 : (w+1)·T + 1, b]``. Tokens after the last full window are dropped.

    Returns:
        ``(x, y)``, each ``(W·B, T)`` int64.

    Raises:
        DataError: the columns are too short for one window.
    """
    if bptt < 1:
        raise DataError(f"bptt must be a positive integer, got {bptt}")
    n_win = (cols.shape[0] - 1) // bptt
    if n_win < 1:
        raise DataError(
            f"columns of {cols.shape[0]} tokens hold no BPTT window of {bptt} steps (and its "
            "next-token targets); use a smaller bptt or fewer columns"
        )
    span = n_win * bptt
    x = cols[:span].reshape(n_win, bptt, -1).permute(0, 2, 1).reshape(-1, bptt)
    y = cols[1 : span + 1].reshape(n_win, bptt, -1).permute(0, 2, 1).reshape(-1, bptt)
    return x.contiguous(), y.contiguous()


def corpus_dataset(
    corpus: Corpus,
    name: str,
    batch_size: int = 20,
    bptt: int = 35,
    test_split: Literal["valid", "test"] = "test",
    meta: dict | None = None,
) -> Dataset:
    """A :class:`~landscape.data.Dataset` of BPTT windows of a corpus (see the module docs)."""
    check_choice("test_split", test_split, ("valid", "test"))
    folder = (meta or {}).get("directory")

    def named(split: str, err: DataError) -> DataError:
        where = f"{Path(folder) / PTB_FILES[split]}" if folder else f"the {split} split"
        return DataError(f"{where} ({name} {split} split) is too short: {err}")

    try:
        xtr, ytr = bptt_windows(batchify(corpus.train, batch_size), bptt)
    except DataError as err:
        raise named("train", err) from None
    stream = corpus.valid if test_split == "valid" else corpus.test
    try:
        xte, yte = bptt_windows(
            batchify(stream, min(batch_size, stream.shape[0] // (bptt + 1) or 1)), bptt
        )
    except DataError as err:
        raise named(test_split, err) from None
    return Dataset(
        name,
        xtr,
        ytr,
        xte,
        yte,
        "language-model",
        len(corpus.vocab),
        {"batch_size": batch_size, "bptt": bptt, "test_split": test_split, **(meta or {})},
    )


def ptb(
    directory: str | os.PathLike,
    batch_size: int = 20,
    bptt: int = 35,
    test_split: Literal["valid", "test"] = "test",
    seed: int = 0,
) -> Dataset:
    """Penn Treebank (word level) as BPTT windows; the test split is ``ptb.test.txt`` (or
    ``ptb.valid.txt``). ``seed`` is recorded only (nothing is random)."""
    corpus = read_corpus(directory)
    meta = {"directory": str(directory), "seed": seed}
    return corpus_dataset(corpus, "ptb", batch_size, bptt, test_split, meta)


def generated_corpus(
    vocab_size: int = 24, n_train: int = 6000, n_test: int = 1500, seed: int = 0
) -> Corpus:
    """A tiny corpus from a seeded sparse Markov chain (each word has two likely successors).

    Word ``w{i}`` follows word ``w{j}`` with probability ``P[j, i]``, rows of ``P`` drawn
    from a Dirichlet(0.05) distribution, so the text is predictable (its entropy rate is
    far below ``log V``) yet not deterministic; ``<eos>`` is one of the words. Deterministic
    for its ``seed``; every split uses the same chain.
    """
    rng = np.random.default_rng(check_seed(seed))
    vocab = (EOS, *(f"w{i}" for i in range(1, vocab_size)))
    p = rng.dirichlet(np.full(vocab_size, 0.05), size=vocab_size)

    def walk(n: int) -> Tensor:
        out = np.empty(n, dtype=np.int64)
        s = 0
        for i in range(n):
            s = rng.choice(vocab_size, p=p[s])
            out[i] = s
        return torch.from_numpy(out)

    return Corpus(vocab, walk(n_train), walk(n_test), walk(n_test))
