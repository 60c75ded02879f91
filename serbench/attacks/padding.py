"""Keeping perturbations out of padding, and measuring SNR over the utterance itself.

A padded batch holds, per row, ``lengths`` active samples (or, after the front
end, active frames: :func:`serbench.engine.lengths.frame_mask`) followed by
padding. Whatever an attack writes into the padding is not a perturbation of
the utterance: it spends budget where there is no speech (an SNR-budget PGD
puts a third or more of its energy there) and lets a model be attacked through
silence it would never hear. The helpers here:

- :func:`sample_mask`: (B, L) bool of active samples from lengths;
- :func:`restrict`: ``x_adv`` with every padded position put back to ``x``
  (each element is exactly ``x`` or ``x_adv``, so bounds hold and every norm
  only shrinks: a batch inside its budget stays inside);
- :class:`PaddingGate` and :func:`masked_generate`: run any attack on a model
  that sees the clean padding whatever the attack writes there, so gradients
  there are zero and no step is spent on it, then :func:`restrict` the result
  (a random start in the padding is removed);
- :func:`active_snr_db` and :func:`padding_energy_fraction`: the perturbation's
  SNR over the active samples, and the share of its energy in the padding.

Masks are (B, T) and broadcast over ``x``'s last axis: samples for waveforms
(B, L), frames for features (B, C, F, T).
"""

from __future__ import annotations

import torch
from torch import nn

from serbench.attacks.gradients import model_key


def sample_mask(lengths: torch.Tensor, n_samples: int) -> torch.Tensor:
    """(B, n_samples) bool, True on each row's first ``lengths`` samples."""
    lengths = torch.as_tensor(lengths, dtype=torch.long)
    return torch.arange(int(n_samples), device=lengths.device)[None, :] < lengths[:, None]


def _view(mask: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A (B, T) mask shaped to broadcast over ``x`` (B, ..., T)."""
    if mask.dim() != 2 or mask.shape[0] != x.shape[0] or mask.shape[1] != x.shape[-1]:
        raise ValueError(f"padding mask {tuple(mask.shape)} does not fit {tuple(x.shape)}: expected (batch, last axis)")
    return mask.to(device=x.device, dtype=torch.bool).view(mask.shape[0], *([1] * (x.dim() - 2)), mask.shape[1])


def restrict(x: torch.Tensor, x_adv: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``x_adv`` on active positions, ``x`` on padded ones (detached)."""
    return torch.where(_view(mask, x), x_adv.detach(), x.detach())


class PaddingGate(nn.Module):
    """``model`` fed the clean values ``x`` at padded positions, whatever the input holds there.

    The forward value then never depends on the padding and its gradient there is exactly zero,
    so sign and normalised-gradient steps leave it alone. Only for batches of ``x``'s shape.
    """

    def __init__(self, model: nn.Module, x: torch.Tensor, mask: torch.Tensor) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("clean", x.detach(), persistent=False)
        self.register_buffer("mask", _view(mask, x), persistent=False)

    def gradient_key(self) -> tuple:
        """Its input gradient depends on the gated model and on the clean values and mask it substitutes."""
        return ("gate", *model_key(self.model), self.clean, self.mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape != self.clean.shape:
            raise ValueError(f"PaddingGate: built for inputs {tuple(self.clean.shape)}, got {tuple(x.shape)}; "
                             "gate each batch separately")
        return self.model(torch.where(self.mask, x, self.clean))


def masked_generate(attack, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                    mask: torch.Tensor | None) -> torch.Tensor:
    """``attack.generate`` on a gated model, restricted to active positions (``mask`` None: as is)."""
    if mask is None or bool(mask.all()):
        return attack.generate(model, x, y)
    return gated_generate(attack, model, x, y, mask)


def gated_generate(attack, model: nn.Module, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """:func:`masked_generate` for a ``mask`` the caller knows holds padding: no host sync to find out."""
    was_training = model.training
    gated = PaddingGate(model, x, mask).train(was_training)
    return restrict(x, attack.generate(gated, x, y), mask)


def active_snr_db(clean: torch.Tensor, perturbed: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """Per-row SNR (dB, float64) of ``perturbed - clean`` against ``clean`` over the active samples.

    ``+inf`` where the perturbation is zero. ``lengths`` None: over the whole row.
    """
    c = clean.detach().double().flatten(1)
    d = (perturbed.detach().double() - clean.detach().double()).flatten(1)
    if lengths is not None:
        keep = sample_mask(torch.as_tensor(lengths, device=c.device), c.shape[1])
        c, d = c * keep, d * keep
    signal, noise = c.pow(2).sum(1), d.pow(2).sum(1)
    return 10.0 * torch.log10(signal / noise)


def padding_energy_fraction(clean: torch.Tensor, perturbed: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Per-row share (float64, 0..1) of the perturbation's energy that lies in the padding (0 where none)."""
    d = (perturbed.detach().double() - clean.detach().double()).flatten(1)
    pad = ~sample_mask(torch.as_tensor(lengths, device=d.device), d.shape[1])
    total = d.pow(2).sum(1)
    return torch.where(total > 0, (d.pow(2) * pad).sum(1) / total.clamp_min(1e-300), torch.zeros_like(total))
