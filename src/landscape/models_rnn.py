"""A word-level LSTM language model whose recurrence is written out, so it can be vmapped.

Freeman & Bruna 2017 measure the level sets of an LSTM language model on Penn Treebank (the
"medium" model of Zaremba et al. 2014: embedding, two LSTM layers, a linear decoder).
``torch.nn.LSTM`` calls a fused kernel that ``torch.func.vmap`` cannot batch over stacked
parameters, so :class:`LSTMLanguageModel` writes the recurrence of each layer as a loop over
time steps of plain matrix products,

    i, f, g, o = σ(W_ii x + b_ii + W_hi h), σ(…), tanh(…), σ(…)   (PyTorch's gate order)
    c' = f ⊙ c + i ⊙ g,   h' = o ⊙ tanh(c'),

with parameters named and shaped exactly as ``nn.LSTM``'s (``rnn.weight_ih_l{k}``
``(4H, in)``, ``rnn.weight_hh_l{k}`` ``(4H, H)``, ``rnn.bias_ih_l{k}``, ``rnn.bias_hh_l{k}``),
so weights load into ``nn.LSTM`` unchanged and the tests compare the two.

Inputs are ``(N, T)`` token ids (every row a BPTT window started from a zero state); the
output is the logits in the ``(N, V, T)`` layout ``F.cross_entropy`` takes for sequences,
so the ``"cross_entropy"`` loss of :class:`~landscape.functional.FunctionalModel` is the
mean per-token cross-entropy and its exponential the perplexity.

Shape letters: ``N`` windows, ``T`` time steps, ``V`` vocabulary, ``D`` embedding size,
``H`` hidden size.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import Tensor, nn

__all__ = ["LSTMLanguageModel", "LSTMSpec", "lstm_layer"]


class LSTMSpec(BaseModel):
    """A word-level LSTM language model: embedding → LSTM layers → linear decoder.

    Attributes:
        vocab_size: ``V``, the number of word types (``<eos>`` included).
        embed_size: ``D``, the embedding width.
        hidden_size: ``H``, the width of every LSTM layer.
        layers: one or two LSTM layers (any positive number works).
        dropout: dropout between layers (``nn.Dropout``; off in evaluation, which is how
            ``landscape`` evaluates and trains functionally).
        tie_weights: the decoder reuses the embedding matrix (needs ``D = H``); the decoder
            then has only its bias.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["lstm"] = "lstm"
    vocab_size: int = Field(gt=1)
    embed_size: int = Field(default=32, gt=0)
    hidden_size: int = Field(default=32, gt=0)
    layers: int = Field(default=1, ge=1)
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    tie_weights: bool = False

    @model_validator(mode="after")
    def _tie(self) -> LSTMSpec:
        if self.tie_weights and self.embed_size != self.hidden_size:
            raise ValueError(
                f"tie_weights needs embed_size == hidden_size, got {self.embed_size} and "
                f"{self.hidden_size}"
            )
        return self

    def describe(self) -> str:
        tie = ", tied" if self.tie_weights else ""
        return (
            f"LSTM LM V={self.vocab_size} D={self.embed_size} "
            f"{self.layers}×H={self.hidden_size}{tie}"
        )


def lstm_layer(x: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor) -> Tensor:
    """One LSTM layer over ``(N, T, in)`` inputs from a zero state; returns ``(N, T, H)``.

    The gates are ``nn.LSTM``'s, in its order ``(i, f, g, o)`` along the ``4H`` rows.
    """
    n, t = x.shape[0], x.shape[1]
    hidden = w_hh.shape[1]
    pre = x @ w_ih.T + (b_ih + b_hh)  # (N, T, 4H): the input part of every step at once
    h = x.new_zeros(n, hidden)
    c = x.new_zeros(n, hidden)
    out = []
    for s in range(t):
        z = pre[:, s] + h @ w_hh.T
        i, f, g, o = z.chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        out.append(h)
    return torch.stack(out, dim=1)


class _Weights(nn.Module):
    """Holds ``nn.LSTM``-named parameters (``weight_ih_l0`` …) without its fused kernel."""

    def __init__(self, spec: LSTMSpec) -> None:
        super().__init__()
        h = spec.hidden_size
        bound = h**-0.5  # nn.LSTM's init: U(−1/√H, 1/√H) for every tensor
        for k in range(spec.layers):
            d_in = spec.embed_size if k == 0 else h
            for name, shape in (
                (f"weight_ih_l{k}", (4 * h, d_in)),
                (f"weight_hh_l{k}", (4 * h, h)),
                (f"bias_ih_l{k}", (4 * h,)),
                (f"bias_hh_l{k}", (4 * h,)),
            ):
                self.register_parameter(
                    name, nn.Parameter(torch.empty(shape).uniform_(-bound, bound))
                )


class LSTMLanguageModel(nn.Module):
    """Module built from an :class:`LSTMSpec`: ``(N, T)`` token ids → ``(N, V, T)`` logits.

    Parameters: ``embed.weight`` ``(V, D)``, ``rnn.*`` as ``nn.LSTM``, ``decoder.weight``
    ``(V, H)`` (absent when tied) and ``decoder.bias`` ``(V,)``.
    """

    def __init__(self, spec: LSTMSpec) -> None:
        super().__init__()
        self.spec = spec
        self.embed = nn.Embedding(spec.vocab_size, spec.embed_size)
        self.rnn = _Weights(spec)
        self.drop = nn.Dropout(spec.dropout)
        self.decoder = nn.Linear(spec.hidden_size, spec.vocab_size)
        if spec.tie_weights:
            del self.decoder.weight  # the embedding matrix is used in its place

    def forward(self, x: Tensor) -> Tensor:
        h = self.drop(self.embed(x.long()))
        for k in range(self.spec.layers):
            r = self.rnn
            h = lstm_layer(
                h,
                getattr(r, f"weight_ih_l{k}"),
                getattr(r, f"weight_hh_l{k}"),
                getattr(r, f"bias_ih_l{k}"),
                getattr(r, f"bias_hh_l{k}"),
            )
            h = self.drop(h)
        w = self.embed.weight if self.spec.tie_weights else self.decoder.weight
        logits = h @ w.T + self.decoder.bias  # (N, T, V)
        return logits.transpose(1, 2)
