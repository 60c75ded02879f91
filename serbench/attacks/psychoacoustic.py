"""Imperceptible waveform attack: PGD, then a perturbation pushed under the psychoacoustic masking threshold.

After Qin et al., "Imperceptible, robust, and targeted adversarial examples for automatic speech
recognition", ICML 2019, made untargeted for classification. The cell's budget (Linf, L2 or SNR on the
waveform) still bounds every iterate, so the harness's own budget check holds as for ``pgd``;
imperceptibility is an additional constraint the attack optimises and reports, not one the harness
enforces (:mod:`serbench.attacks.masking_threshold` gives the measure anyone can recompute).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from serbench.attacks import params
from serbench.attacks import masking_threshold as mt
from serbench.attacks.base import Attack
from serbench.attacks.pgd import PGD
from serbench.errors import SerbenchError
from serbench.registry import register


@register(
    "attacks", "psychoacoustic", version="1.0",
    summary="Imperceptible waveform attack: PGD, then Adam on CE + alpha * excess over the masking threshold",
    paper="Qin et al., ICML 2019",
    tags=("native", "white-box", "waveform", "linf", "l2", "snr", "iterative", "imperceptible"),
)
class Psychoacoustic(Attack):
    r"""Two-stage imperceptible attack on waveforms (Qin et al. 2019), untargeted, inside the cell's budget.

    Stage 1 is ``pgd`` at the cell's budget (``steps``, its default step size, random start, ``seed``).
    Stage 2 starts there and runs ``stage2_steps`` of Adam (learning rate ``lr`` times the budget's
    per-sample scale: eps for Linf, the L2 radius / sqrt(samples) for L2 and SNR, decayed to 0 on a cosine:
    Adam's sign-like steps add broadband noise of their own size, which would otherwise sit above the
    threshold wherever nothing masks it) on, per utterance,

        CE(f(x + delta), t) + alpha * mean over bins and frames of relu(PSD_delta - theta_x)   (both in dB)

    where ``theta_x`` is the clean utterance's masking threshold (:mod:`~serbench.attacks.masking_threshold`)
    and ``t`` the stage-1 prediction when it was wrong, else the most likely wrong class (Qin et al.'s
    stage 2 is targeted; aiming at the class stage 1 found keeps the example adversarial). Every iterate is
    projected back onto the cell's budget ball and the domain's bounds. ``alpha`` adapts per utterance as in
    the paper: times ``alpha_up`` (1.2) every ``alpha_up_every`` (20) steps while adversarial, times
    ``alpha_down`` (0.8) every ``alpha_down_every`` (50) steps while not (never below 1e-4 of its start).
    Returned per utterance: the adversarial iterate (stage 1 included) of least masking loss, as the
    paper's code keeps; where none was adversarial, the last iterate.

    Reported (``last_report``): per utterance ``masking_excess_max_db`` (largest excess of the
    perturbation's PSD over the threshold, over every bin and frame; <= 0: masked everywhere),
    ``masking_excess_mean_db`` (the positive excess averaged over bins and frames), ``masked`` (largest
    excess <= ``tolerance_db``) and ``fooled``; totals ``utterances``, ``masked``, ``fooled`` and
    ``masked_and_fooled``, from which a board computes the inaudible fooling rate.

    Arguments:
        eps, norm, domain: the cell's budget; waveform domain only.
        steps (int): stage-1 PGD steps. (Default: 10)
        stage2_steps (int): stage-2 Adam steps. (Default: 200)
        lr (float): stage-2 Adam learning rate, in units of the budget's per-sample scale. (Default: 0.5)
        alpha (float): initial weight of the masking loss. (Default: 10.0)
        alpha_up, alpha_up_every, alpha_down, alpha_down_every: the adaptation above.
        tolerance_db (float): how far above the threshold (dB) a bin may lie and the utterance still count
            as masked. (Default: 0.0)
        sample_rate (int): of the waveforms, for the Bark scale and the ATH. (Default: 16000)
        n_fft, hop (int): the masking model's STFT. (Default: 2048, 512 as Qin et al. at 16 kHz)
        seed (int): seeds stage 1's random start. (Default: 0)
    """

    norms = ("linf", "l2", "snr")
    domains = ("waveform",)

    def __init__(self, eps: float = 0.0, norm: str = "linf", domain: str = "waveform", steps: int = 10,
                 stage2_steps: int = 200, lr: float = 0.5, alpha: float = 10.0, alpha_up: float = 1.2,
                 alpha_up_every: int = 20, alpha_down: float = 0.8, alpha_down_every: int = 50,
                 tolerance_db: float = 0.0, sample_rate: int = mt.SAMPLE_RATE, n_fft: int = mt.N_FFT,
                 hop: int = mt.HOP, seed: int = 0) -> None:
        if domain != "waveform":
            raise SerbenchError(
                f"attack 'psychoacoustic' needs the waveform domain (a masking threshold is a property of audio), "
                f"not {domain!r}; set domain: waveform"
            )
        super().__init__(eps=eps, norm=norm, domain=domain)
        name = self.name
        self.steps = params.integer(name, "steps", steps)
        self.stage2_steps = params.integer(name, "stage2_steps", stage2_steps, minimum=0)
        self.lr = params.number(name, "lr", lr)
        self.alpha = params.number(name, "alpha", alpha)
        self.alpha_up = params.number(name, "alpha_up", alpha_up)
        self.alpha_down = params.number(name, "alpha_down", alpha_down)
        self.alpha_up_every = params.integer(name, "alpha_up_every", alpha_up_every)
        self.alpha_down_every = params.integer(name, "alpha_down_every", alpha_down_every)
        if not (isinstance(tolerance_db, (int, float)) and not isinstance(tolerance_db, bool)
                and math.isfinite(tolerance_db)):
            raise SerbenchError(f"attack {name!r}: tolerance_db must be a finite number of dB, got {tolerance_db!r}")
        self.tolerance_db = float(tolerance_db)
        self.sample_rate = params.integer(name, "sample_rate", sample_rate)
        self.n_fft = params.integer(name, "n_fft", n_fft, minimum=2)
        self.hop = params.integer(name, "hop", hop)
        self.seed = int(seed)
        self._stage1 = PGD(eps=eps, norm=norm, domain=domain, steps=self.steps, seed=self.seed)
        self.last_report: dict | None = None

    def _scale(self, x: torch.Tensor) -> torch.Tensor:
        """Per-utterance (B, 1) typical per-sample size of the budget: Adam's step unit."""
        r = self.radius(x)
        if self.threat.norm != "linf":
            r = r / math.sqrt(x[0].numel())
        return r.to(torch.float32).view(-1, 1)

    def _masking_loss(self, delta: torch.Tensor, theta: torch.Tensor, peak: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=delta.device.type, enabled=False):
            psd = mt.perturbation_psd_db(delta.float(), peak, self.n_fft, self.hop)
            return torch.relu(psd - theta).flatten(1).mean(dim=1)

    def generate(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        x = x.detach()
        self.last_report = None
        if len(x) == 0:
            return x.clone()
        if x.dim() != 2:
            raise SerbenchError(f"attack {self.name!r}: expects waveforms (batch, samples), got shape {tuple(x.shape)}")
        y = y.to(x.device)
        if self.zero_budget:
            x_adv = x.clone()
        else:
            self._stage1.threat = self.threat
            x_adv = self._stage1.generate(model, x, y).detach()
            if self.stage2_steps:
                x_adv = self._stage2(model, x, y, x_adv)
        self._report(model, x, y, x_adv)
        return x_adv

    def _stage2(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
        theta, peak = mt.masking_threshold(x, self.sample_rate, self.n_fft, self.hop)
        n = len(x)
        with torch.no_grad():
            logits = model(start).float()
        other = logits.scatter(1, y[:, None], -math.inf).argmax(1)
        target = torch.where(logits.argmax(1) != y, logits.argmax(1), other)
        lr = self.lr * self._scale(x)
        alpha = torch.full((n,), self.alpha, device=x.device)
        alpha_min = self.alpha * 1e-4
        best = start.clone()
        best_loss = torch.full((n,), math.inf, device=x.device)
        x_adv = start.clone()
        m = torch.zeros_like(x, dtype=torch.float32)
        v = torch.zeros_like(x, dtype=torch.float32)
        beta1, beta2 = 0.9, 0.999
        for i in range(self.stage2_steps + 1):
            x_adv.requires_grad_(True)
            with torch.enable_grad():
                out = model(x_adv).float()
                ce = nn.functional.cross_entropy(out, target, reduction="none")
                mask_loss = self._masking_loss(x_adv - x, theta, peak)
                loss = (ce + alpha * mask_loss).sum()
                (grad,) = torch.autograd.grad(loss, x_adv)
            with torch.no_grad():
                fooled = out.argmax(1) != y
                better = fooled & (mask_loss.detach() < best_loss)
                best = torch.where(better[:, None], x_adv.detach(), best)
                best_loss = torch.where(better, mask_loss.detach(), best_loss)
                if i == self.stage2_steps:
                    last = x_adv.detach()
                    break
                if i and i % self.alpha_up_every == 0:
                    alpha = torch.where(fooled, alpha * self.alpha_up, alpha)
                if i and i % self.alpha_down_every == 0:
                    alpha = torch.where(fooled, alpha, (alpha * self.alpha_down).clamp_min(alpha_min))
                g = grad.float()
                m.mul_(beta1).add_(g, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                m_hat = m / (1 - beta1 ** (i + 1))
                v_hat = v / (1 - beta2 ** (i + 1))
                decay = 0.5 * (1 + math.cos(math.pi * i / self.stage2_steps))  # cosine to 0: Adam's jitter fades
                step = (lr * decay) * m_hat / (v_hat.sqrt() + 1e-12)
                x_adv = self.project(x, x_adv.detach() - step.to(x.dtype))
        return torch.where(torch.isfinite(best_loss)[:, None], best, last)

    def _report(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, x_adv: torch.Tensor) -> None:
        """Masking measures and fooling of the returned batch, in :mod:`serbench.attacks.report`'s format."""
        with torch.no_grad():
            fooled = model(x_adv).float().argmax(1) != y
            excess = mt.excess_db(x, x_adv, self.sample_rate, self.n_fft, self.hop)
            summary = mt.masking_summary(excess, self.tolerance_db)
        masked, fooled_l = summary["masked"].tolist(), fooled.tolist()
        self.last_report = {
            "totals": {"utterances": len(x), "masked": int(sum(masked)), "fooled": int(sum(fooled_l)),
                       "masked_and_fooled": int(sum(a and b for a, b in zip(masked, fooled_l)))},
            "per_utterance": {"masking_excess_max_db": [round(float(v), 4) for v in summary["max_db"]],
                              "masking_excess_mean_db": [round(float(v), 4) for v in summary["mean_db"]],
                              "masked": masked, "fooled": fooled_l},
            "info": {"masking_tolerance_db": self.tolerance_db, "masking_model": "Qin et al. 2019, "
                     f"STFT {self.n_fft}/{self.hop} at {self.sample_rate} Hz"},
        }
