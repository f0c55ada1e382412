# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Transitions in a VAE
#
# In the first version of arXiv 2505.06597, Ersoy & Wiesner {cite:p}`ersoy2025geometry` leave
# the L2 setting: with a variational autoencoder (VAE) on MNIST they report that change points
# of the curvature of the error landscape again mark transitions in the model's accuracy. This
# chapter builds a VAE whose control parameter is the weight β of its KL term (a β-VAE,
# {cite:t}`higgins2017beta`). As β grows the latent dimensions stop carrying information one
# after another — *posterior collapse* — and a linear probe on the latent code loses accuracy.
# We locate these steps, measure the scalar curvature along warm sweeps up and down in β, and
# set the curvature's change points beside the steps.
#
# ## What the paper states, what is not public, what this chapter chose
#
# **Stated** (v1): outside the L2 setting, for a VAE on MNIST, curvature change points mark
# transitions in model accuracy. **Not public**: the VAE's architecture, the control parameter
# that was swept, what "accuracy" means for a VAE, and how the curvature was computed (v1's
# appendix B was not readable to us). The choices below are therefore ours:
#
# * **Model.** A fully connected VAE: Gaussian encoder $q(z|x)=\mathcal N(\mu(x),
#   \operatorname{diag}\tau^2(x))$, one tanh hidden layer each way, $L$ latent dimensions,
#   prior $\mathcal N(0,I)$. The inputs are the standardised pixels of `l2lib.data`, so the
#   decoder is **Gaussian with fixed variance** $\sigma^2=1$ (a Bernoulli decoder, also in
#   `l2lib.vae`, would need pixels in $[0,1]$). With tanh the loss is smooth and its Hessian
#   defined.
# * **Control parameter.** The KL weight β of the training error
#   $E_\beta=\langle-\log p(x|z)\rangle+\beta\,\langle\mathrm{KL}(q(z|x)\,\|\,p(z))\rangle$
#   (nats per sample). The L2 strength λ of the book's convention, $E_\beta+(\lambda/2)
#   \|\theta\|^2$, is a second control (the parameter `lam`, 0 by default). The sweeps are
#   warm-started as in the L2 chapters: each β starts from the previous β's weights with a fresh
#   optimiser; up from a fresh network, then down from where the upward sweep ended.
# * **Why β, and the grid.** For a *linear* VAE the answer is known in closed form: its optimum
#   is probabilistic PCA with noise variance $\beta\sigma^2$ (Lucas et al., *Don't blame the
#   ELBO!*, NeurIPS 2019), so latent unit $i$ collapses at $\beta_i=\nu_i/\sigma^2$, $\nu_i$ the
#   $i$-th eigenvalue of the data covariance (checked numerically in `tests/test_vae.py`).
#   Collapse in steps is the expected phenomenon; the grid is logarithmic and scaled by
#   $\beta_1=\nu_1/\sigma^2$.
# * **Accuracy.** The test accuracy of a linear probe (scikit-learn's logistic regression) fitted
#   on the latent means $\mu(x)$ of the training digits — read as they are, in units of the
#   prior's standard deviation. **Active units** follow {cite:t}`burda2016importance`: unit $i$
#   is active if $\operatorname{Var}_x\mu_i(x)>0.01$.
# * **Which curvature.** The scalar curvature $R$ of chapter 2 (graph of a function of all
#   parameters θ of one network; Hutchinson estimates with a standard error) of the
#   **reconstruction term** $E_{\rm rec}(\theta)=\langle-\log p(x|z)\rangle$, evaluated at the
#   minimiser of $E_{\rm rec}+\beta\,\mathrm{KL}$ — just as chapter 2 evaluates the error $E$ at
#   the minimiser of $E+(\lambda/2)\|\theta\|^2$: here β·KL plays the role of the penalty. The
#   reparameterisation noise is held fixed (one draw per training digit, the same at every β:
#   common random numbers), so $E_{\rm rec}$ is a deterministic function of θ. For comparison the
#   curvature of the full training error $E_\beta$ is measured too.
# * **Steps and change points.** A *step* is a grid interval over which a network's number of
#   active units falls; an **accuracy transition** is a step across which the probe accuracy
#   falls by more than three times its typical change between neighbouring β without a step.
#   Change points of $R$ come from `ruptures` (changes of slope of $\log R$ against $\log\beta$;
#   as many breaks as the network has groups of steps in adjacent intervals). A step is
#   *matched* if a change point lies within one grid step. Because several change points on a
#   short grid can match by luck, the chapter reports the chance level beside every count.

# %% tags=["parameters"]
profile = "quick"  # smoke | quick | paper
device = "auto"  # auto | cpu | cuda
seed = 0
dataset = "digits"  # digits | mnist | fashion-mnist
data_root = None  # folder with MNIST/raw/... for mnist and fashion-mnist (or set L2LIB_DATA)
results_dir = "../../results"  # summaries and the resumable result store
lam = 0.0  # L2 strength λ, held fixed along the β sweeps (the second control)

# %%
from dataclasses import replace

import numpy as np
from IPython.display import Markdown, display
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

from l2lib.analysis import collapse as collapse_analysis
from l2lib.analysis import transitions
from l2lib.book import plots, report
from l2lib.data import load_dataset
from l2lib.experiments import vae as collapse

run = report.start_chapter(profile, device, seed, dataset, results_dir)
info = run.info
settings = replace(collapse.collapse_settings(profile), lam=float(lam))
data = load_dataset(dataset, root=data_root, device=run.device, n_train=settings.n_train,
                    seed=seed)
display(Markdown(report.banner(info)))


def log_beta(ax) -> None:
    """A logarithmic β axis with plain tick labels."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(NullFormatter())


display(Markdown(
    f"VAE {data.input_dim} → {settings.hidden} → {settings.latent} latent dimensions → "
    f"{settings.hidden[::-1]} → {data.input_dim} ({settings.activation}, σ = "
    f"{settings.sigma:g}), {settings.n_seeds} network(s) trained side by side as an ensemble, "
    f"{data.n_train} training digits, {settings.n_betas} values of β, λ = {settings.lam:g}; "
    f"curvature from {settings.curvature_samples} Hutchinson probes."))

# %% [markdown]
# ## Units collapse one after another
#
# The upward sweep, one column per network. Top row: the KL of each latent unit (one line per
# unit) — what the unit transmits about the input; dotted: the thresholds $\nu_i/\sigma^2$
# at which a *linear* VAE would lose its units. Below: the number of active units, the probe
# accuracy, and the curvature $R$ of $E_{\rm rec}$ (error bars: one standard error) with its
# change points (green); grey dotted lines mark the steps in the number of active units.

# %%
sweeps = collapse.collapse_hysteresis(data, settings, seed, run.store)
x_train, _ = collapse.vae_inputs(data, settings.likelihood)
thresholds = collapse.pca_thresholds(x_train, settings.sigma, settings.latent)
up = sweeps.up
analysis = collapse_analysis.analyse_collapse(up, "curvature")
analysis_obj = collapse_analysis.analyse_collapse(up, "curvature_obj")
analysis_down = collapse_analysis.analyse_collapse(sweeps.down, "curvature")

# %%
n_members = up.obs["active_units"].shape[1]
fig, axes = plots.panels(n_members, rows=4, height=2.1, width=4.2)
axes = axes.reshape(4, n_members)
inside = thresholds[(thresholds >= up.betas[0]) & (thresholds <= up.betas[-1])]
for k in range(n_members):
    steps = [s.beta for s in analysis.steps if s.member == k]
    ax = axes[0, k]
    ax.plot(up.betas, up.obs["kl_dims"][:, k], "-", lw=1.0)
    for i, b in enumerate(inside):
        plots.mark(ax, b, "linear VAE: ν_i/σ²" if i == 0 else None, color="0.6", ls=":")
    plots.label(ax, "β", "KL per unit (nats)", f"network {k} (seed {seed + k})", legend=k == 0)
    axes[1, k].step(up.betas, up.obs["active_units"][:, k], where="mid", color="C0")
    plots.label(axes[1, k], "β", "active units")
    axes[2, k].plot(up.betas, up.obs["probe_acc"][:, k], "o-", ms=3, color="C1")
    plots.label(axes[2, k], "β", "probe accuracy (test)")
    axes[3, k].errorbar(up.betas, up.obs["curvature"][:, k], yerr=up.obs["curvature_err"][:, k],
                        fmt="o-", ms=3, color="C0")
    axes[3, k].set_yscale("log")
    plots.label(axes[3, k], "β", "R of E_rec")
    for row in range(1, 4):
        for i, b in enumerate(steps):
            plots.mark(axes[row, k], b, "step in active units" if i == 0 else None,
                       color="0.5", ls=":")
        for i, b in enumerate(analysis.changes[k]):
            plots.mark(axes[row, k], b, "curvature change point" if i == 0 else None)
    axes[3, k].legend(fontsize=7)
for ax in axes.flat:
    log_beta(ax)

# %% [markdown]
# Every step of every network, with the probe accuracy just before and after it and the nearest
# change point of $R(E_{\rm rec})$:

# %%
display(Markdown(report.markdown_table(analysis.rows(), digits=3)))

c_up, c_obj = analysis.counts(), analysis_obj.counts()
if c_up["accuracy_steps"] == 0:
    verdict = ("No step in this run comes with a marked drop of the probe accuracy, so the "
               "claim cannot be tested here (the `smoke` profile is far too small for it).")
else:
    verdict = (
        f"**Matched: {c_up['accuracy_matched']} of the {c_up['accuracy_steps']} accuracy "
        f"transitions** in this run have a change point of $R(E_{{\\rm rec}})$ within one "
        f"grid step; a step placed at random would be matched with probability "
        f"{c_up['chance']:.2f}, so all of them would match by luck with probability "
        f"{c_up['all_by_chance']:.2g}. Steps *without* a marked accuracy drop: "
        f"{c_up['other_matched']} of {c_up['other_steps']} matched.")
display(Markdown(verdict))

# %% [markdown]
# How to read this (the `quick` profile; the table and the sentence above are this run's
# verdict). Roughly as a linear VAE would (dotted), the units that carry little — the weak
# directions of the digits — fall silent first, well below $\beta_1$, and the probe hardly
# notices. The units coding the strongest directions collapse together close to $\beta_1$, and
# there the probe accuracy falls in a few steps to its collapsed value. The change points of
# $R(E_{\rm rec})$ sit on these accuracy steps: $R$ decreases slowly while the units shrink,
# turns as the strong units start to go, climbs steeply while they collapse — the gradient
# $\nabla E_{\rm rec}=-\beta\nabla\mathrm{KL}$ that enters $R$ through $W^2$ vanishes with the
# KL — and levels off once $q(z|x)=p(z)$ for every unit. The quiet collapses of the weak units
# leave no mark on $R$: they are matched no more often than chance would allow. So the claim
# reproduces for the transitions in accuracy, not for every change in the latent code.
#
# After the last unit has collapsed the probe still scores well above chance
# ({glue:text}`probe_collapsed:.2f` on average, chance ≈ 0.1): the latent means of collapsed
# units keep a faint trace of the input (variance far below the 0.01 threshold, at the size of
# the optimiser's step noise) that a logistic regression fitted on the raw means can exploit.
# The probe is an order parameter only up to total collapse, and the analysis stops there.

# %% [markdown]
# ## Which landscape? The training error as a whole
#
# The curvature of the full training error $E_\beta=E_{\rm rec}+\beta\,\mathrm{KL}$ is noisier:
# at the trained point its gradient is not a property of the landscape but the residue of
# stochastic training (Adam on minibatches with fresh noise, measured with fixed noise), and
# $R$ depends on it through $W^2=1+\|\nabla E\|^2$. Left: $R$ of both landscapes; right: the
# gradient norms.

# %%
fig, axes = plots.panels(2, width=4.2)
for k in range(n_members):
    axes[0].plot(up.betas, up.obs["curvature"][:, k], "o-", ms=3, color="C0",
                 label="R of E_rec" if k == 0 else None)
    axes[0].plot(up.betas, up.obs["curvature_obj"][:, k], "s--", ms=3, color="C3",
                 label="R of E_β = E_rec + β KL" if k == 0 else None)
    axes[1].plot(up.betas, up.obs["grad_norm"][:, k], "o-", ms=3, color="C0",
                 label="‖∇E_rec‖" if k == 0 else None)
    axes[1].plot(up.betas, up.obs["grad_norm_obj"][:, k], "s--", ms=3, color="C3",
                 label="‖∇E_β‖" if k == 0 else None)
for ax in axes:
    log_beta(ax)
axes[0].set_yscale("log")
plots.label(axes[0], "β", "scalar curvature R", "two landscapes", legend=True)
plots.label(axes[1], "β", "gradient norm at the trained point", legend=True)
display(Markdown(
    f"With the change points of $R(E_\\beta)$ instead, {c_obj['accuracy_matched']} of the "
    f"{c_obj['accuracy_steps']} accuracy transitions are matched (chance per step "
    f"{c_obj['chance']:.2f})."))

# %% [markdown]
# ## Hysteresis between the upward and the downward sweep
#
# Sweeping back down from total collapse, units come back to life — but later, and not all of
# them: a collapsed unit sits at a stationary point (its encoder mean and its decoder weights
# vanish together, so neither receives a gradient on average) that only the sampling noise
# can leave. Weak units may revive for a while and then fall silent again as a stronger unit
# takes over what they coded. The figure shows the means over the networks.

# %%
down = sweeps.down
fig, axes = plots.panels(4, width=3.0)
for ax, (name, ylabel) in zip(axes, [("active_units", "active units"),
                                     ("probe_acc", "probe accuracy (test)"),
                                     ("kl", "KL (nats)"), ("curvature", "R of E_rec")],
                              strict=True):
    plots.sweep_pair(ax, sweeps.betas, up.mean(name), down.mean(name))
    log_beta(ax)
    plots.label(ax, "β", ylabel, legend=name == "active_units")
axes[3].set_yscale("log")
logb = np.log10(sweeps.betas)
width = transitions.hysteresis_width(logb, up.mean("active_units"), down.mean("active_units"))
b_up = collapse_analysis.mean_total_collapse_beta(up)
b_down = collapse_analysis.mean_total_collapse_beta(down)
display(Markdown(report.markdown_table([
    {"sweep": "up", "β of total collapse": b_up,
     "active units at smallest β": float(up.mean("active_units")[0]),
     "probe accuracy at smallest β": float(up.mean("probe_acc")[0])},
    {"sweep": "down", "β of total collapse": b_down,
     "active units at smallest β": float(down.mean("active_units")[0]),
     "probe accuracy at smallest β": float(down.mean("probe_acc")[0])}], digits=3)))
c_down = analysis_down.counts()
if np.isfinite(b_up) and np.isfinite(b_down):
    relation = "below" if b_down < b_up else ("above" if b_down > b_up else "at")
    where = (f"Going down, the networks stay fully collapsed down to β ≈ {b_down:.3g}, "
             f"{relation} the β ≈ {b_up:.3g} from which on the upward sweep was fully collapsed.")
else:
    where = "Not every sweep reaches total collapse on this grid."
display(Markdown(
    f"The branches disagree (by more than a tenth of the range of active units) over "
    f"{width:.2f} decades of β. {where} On the downward sweep the steps are revivals; there "
    f"{c_down['accuracy_matched']} of {c_down['accuracy_steps']} accuracy transitions are "
    f"matched by a change point of $R(E_{{\\rm rec}})$."))

# %% [markdown]
# ## Summary
# The numbers of this page are glued into the text and written to
# `results/summaries/04_vae.json`.

# %%
numbers = {
    "beta_1": float(thresholds[0]), "steps_up": c_up["steps"],
    "accuracy_steps_up": c_up["accuracy_steps"], "accuracy_matched_up": c_up["accuracy_matched"],
    "other_steps_up": c_up["other_steps"], "other_matched_up": c_up["other_matched"],
    "chance_up": c_up["chance"], "all_by_chance_up": c_up["all_by_chance"],
    "accuracy_matched_obj": c_obj["accuracy_matched"], "chance_obj": c_obj["chance"],
    "down_accuracy_steps": c_down["accuracy_steps"],
    "down_accuracy_matched": c_down["accuracy_matched"],
    "beta_total_up": b_up, "beta_total_down": b_down,
    "hysteresis_decades": width,
    "units_up_min": float(up.mean("active_units")[0]),
    "units_down_min": float(down.mean("active_units")[0]),
    "probe_up_min": float(up.mean("probe_acc")[0]),
    "probe_down_min": float(down.mean("probe_acc")[0]),
    "probe_collapsed": collapse_analysis.probe_after_collapse(up),
}
n_acc, n_match = c_up["accuracy_steps"], c_up["accuracy_matched"]
findings = [
    report.Finding(
        "Accuracy transitions of a VAE as a control parameter varies",
        "transitions in model accuracy of a VAE on MNIST [2505.06597 v1; setup not public]",
        f"{c_up['steps']} steps in active units, {n_acc} of them accuracy transitions, "
        f"total collapse at β ≈ {numbers['beta_total_up']:.3g} (β-VAE on {data.name})",
        n_acc >= 2 if c_up["steps"] else None,
        "posterior collapse in steps; the control is the KL weight β (our choice)"),
    report.Finding(
        "Curvature change points mark the accuracy transitions",
        "curvature change points mark transitions in model accuracy [2505.06597 v1]",
        f"{n_match}/{n_acc} accuracy transitions within one grid step of a change point of "
        f"R(E_rec) (chance per step {c_up['chance']:.2f}); steps without an accuracy drop: "
        f"{c_up['other_matched']}/{c_up['other_steps']}",
        (n_match == n_acc) if n_acc else None,
        "R of the reconstruction term at the trained point; with R of E_β: "
        f"{c_obj['accuracy_matched']}/{n_acc}"),
    report.Finding(
        "Hysteresis between warm sweeps up and down in β",
        "hysteresis of warm L2 sweeps [2505.06597]; not reported for the VAE",
        f"branches differ over {width:.2f} decades of β; at the smallest β "
        f"{numbers['units_down_min']:.3g} vs {numbers['units_up_min']:.3g} active units",
        None, "the paper states no VAE value to compare with"),
]
report.glue_numbers(numbers)
report.write_summary("04_vae", numbers, info, results_dir, findings=findings)
display(Markdown(report.markdown_table([{"quantity": k, "value": v}
                                        for k, v in numbers.items()])))
