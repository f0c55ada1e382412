"""Polish a warm-started point to a stationary point of L_λ: full-batch L-BFGS from where the
training loop stopped.

The loop of :mod:`l2lib.train.loop` stops on a patience rule; for the small, full-batch
networks of chapters 1–2 that leaves points whose stationarity residual
‖∇E + λθ‖/‖λθ‖ is 10–40 % (review R5). L-BFGS with a strong-Wolfe line search only ever
descends, so from a (metastable) minimum's basin it stays in that basin: it converges the point,
it does not move the sweep to another branch. Members are independent (the summed objective's
gradient is separable); L-BFGS runs on the sum.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from l2lib.models.mlp import EnsembleMLP
from l2lib.train.losses import member_error, penalty, per_member
from l2lib.train.sweep import Observer


def polish(
    model: EnsembleMLP,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    loss: str,
    lam: float | torch.Tensor,
    max_iter: int = 200,
    history: int = 20,
) -> float:
    """Minimise Σ_k E_k + (λ_k/2)‖θ_k‖² by full-batch L-BFGS (in place) for at most
    ``max_iter`` iterations (fewer once the largest gradient component falls below 1000 × the
    dtype's machine epsilon); returns the summed objective at the end. If the objective rose (it
    cannot with the line search, but float32 rounding could), the weights are restored."""
    if max_iter < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter}")
    params = list(model.parameters())
    lam_vec = per_member(lam, model.n_members, params[0])
    start = [p.detach().clone() for p in params]
    tiny = torch.finfo(params[0].dtype).eps
    optimizer = torch.optim.LBFGS(params, lr=1.0, max_iter=max_iter, history_size=history,
                                  line_search_fn="strong_wolfe", tolerance_grad=1e3 * tiny,
                                  tolerance_change=tiny)

    def objective() -> torch.Tensor:
        return (member_error(model(x), y, loss) + penalty(params, lam_vec)).sum()

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        value = objective()
        value.backward()
        return value

    with torch.no_grad():
        before = float(objective())
    optimizer.step(closure)
    with torch.no_grad():
        after = float(objective())
        if not after <= before:
            for p, s in zip(params, start, strict=True):
                p.copy_(s)
            after = before
    return after


def polishing(observe: Observer, x: torch.Tensor, y: torch.Tensor, *, loss: str,
              max_iter: int = 200) -> Observer:
    """An observer for :func:`l2lib.train.sweep.warm_sweep` that first polishes the point
    (:func:`polish`, in place), then observes it. The sweep stores and warm-starts from the
    polished weights, since it saves the state after observing."""

    def observe_polished(model: EnsembleMLP, lam: torch.Tensor) -> Mapping[str, torch.Tensor]:
        polish(model, x, y, loss=loss, lam=lam, max_iter=max_iter)
        return observe(model, lam)

    return observe_polished
