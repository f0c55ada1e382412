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
#   $i$-th eigenvalue of the data covariance (checked numerically in
#   `tests/test_experiments_vae.py`). Collapse in steps is the expected phenomenon; the grid
#   is logarithmic and scaled by $\beta_1=\nu_1/\sigma^2$.
# * **Accuracy.** The test accuracy of a linear probe (scikit-learn's logistic regression) fitted
#   on the latent codes of the training digits, read as they are, in units of the prior's
#   standard deviation — on the **samples** $z=\mu+\sigma\varepsilon$ the decoder is fed (one
#   fixed draw per digit) and, for comparison, on the means $\mu(x)$, which the decoder never
#   sees. **Active units** follow {cite:t}`burda2016importance`: unit $i$ is active if
#   $\operatorname{Var}_x\mu_i(x)>0.01$.
# * **Which curvature.** The scalar curvature $R$ of chapter 2 (graph of a function of all
#   parameters θ of one network; Hutchinson estimates with a standard error) of the
#   **reconstruction term** $E_{\rm rec}(\theta)=\langle-\log p(x|z)\rangle$, evaluated at the
#   minimiser of $E_{\rm rec}+\beta\,\mathrm{KL}$ — as chapter 2 evaluates the error $E$ at the
#   minimiser of $E+(\lambda/2)\|\theta\|^2$. The reparameterisation noise is held fixed (common
#   random numbers), so $E_{\rm rec}$ is a deterministic function of θ. For comparison the
#   curvature of the full training error $E_\beta$ is measured too.
# * **Change points and the test.** Change points of the probe curve itself (changes of its
#   mean) and of $\log R$ against $\log\beta$ (changes of slope) come from `ruptures`' Pelt with
#   a penalty (BIC × 1.5 in units of each curve's robust noise level): the number of breaks is
#   not given, and no step in the number of active units is assumed. The statistic is the mean
#   distance, in grid steps of $\log\beta$, from each probe change point to the nearest
#   curvature change point of the same network, pooled over networks. Its null distribution
#   comes from circularly shifted change points and from surrogate curvature curves (their
#   kinks circularly shifted) put through the same detector; the p-value is the larger of the
#   two. The same test is run on three **controls**: $\|\nabla E_{\rm rec}\|$, the KL and
#   $\|\theta\|$. The null is "change points anywhere on the grid": two curves that both change
#   only near total collapse already count as closer than chance.

# %% tags=["parameters"]
profile = "quick"  # smoke | quick | reference | paper
device = "auto"  # auto | cpu | cuda
seed = 0
dataset = "digits"  # digits | mnist | fashion-mnist
data_root = None  # folder with MNIST/raw/... for mnist and fashion-mnist (or set L2LIB_DATA)
results_dir = "../../results"  # summaries and the resumable result store
reference_dir = "../../results-reference"  # committed reference runs (None: none shown)
lam = 0.0  # L2 strength λ, held fixed along the β sweeps (the second control)

# %%
from IPython.display import Markdown, display

from l2lib.book import reference, report
from l2lib.book.figures import vae as figures
from l2lib.data import load_dataset
from l2lib.experiments import vae, vae_profiles

run = report.start_chapter(profile, device, seed, dataset, results_dir)
settings = vae_profiles.settings(profile, lam=float(lam))
data = load_dataset(dataset, root=data_root, device=run.device, n_train=settings.n_train,
                    seed=seed)
display(Markdown(report.banner(run.info)))

# %%
sweeps = vae.collapse_hysteresis(data, settings, seed, run.store)
thresholds = vae.pca_thresholds(vae.vae_inputs(data, settings.likelihood)[0], settings.sigma,
                                settings.latent)
analysis = vae.analyse(sweeps, settings, seed)
found = vae.findings(sweeps, analysis)
numbers = vae.summary_numbers(found, beta_1=float(thresholds[0]), n_train=data.n_train,
                              n_betas=settings.n_betas, hidden=str(settings.hidden),
                              latent=settings.latent, n_draws=settings.n_draws)
report.glue_numbers(numbers)

# %% [markdown]
# A VAE with {glue:text}`latent` latent dimensions and hidden layers {glue:text}`hidden`,
# {glue:text}`n_seeds` network(s) trained side by side, {glue:text}`n_train` training digits,
# {glue:text}`n_betas` values of β from a warm start.
#
# ## Units collapse, and the probe accuracy falls
#
# The upward sweep, one column per network. Top row: the KL of each latent unit — what it
# transmits about the input; dotted: the thresholds $\nu_i/\sigma^2$ at which a *linear* VAE
# would lose its units ($\beta_1$ = {glue:text}`beta_1:.3g`). Below: the number of active units,
# the probe accuracy on $z$ (and on $\mu$, grey), and $R(E_{\rm rec})$ with error bars of one
# standard error. Dashed orange: the probe's change points; green: the curvature's.

# %%
fig = figures.sweep_panels(sweeps.up, thresholds, analysis, seed)

# %% [markdown]
# **Accuracy transitions** ({glue:text}`accuracy_transitions_verdict`):
# {glue:text}`accuracy_transitions_text`. A sharp drop is a fall between neighbouring β larger
# than the curve's median fall by five robust noise units. The networks are fully collapsed
# from β ≈ {glue:text}`beta_total_up:.3g` on. There the probe on the samples $z$ scores
# {glue:text}`probe_z_collapsed:.2f` (chance ≈ 0.1), the probe on the means
# {glue:text}`probe_mu_collapsed:.2f`: a collapsed unit's mean keeps a faint trace of the
# input (far below the activity threshold) that a probe on $\mu$ exploits but the decoder,
# which receives $z$, never sees.
#
# ## Do the curvature's change points mark the probe's?

# %%
fig = figures.p_values(analysis)
display(Markdown(report.markdown_table(figures.test_rows(analysis), digits=3)))

# %% [markdown]
# **Curvature change points mark the accuracy transitions**
# ({glue:text}`curvature_marks_verdict`): {glue:text}`curvature_marks_text`. With the probe on
# the means instead, p = {glue:text}`p_curvature_mu:.3g`; on the downward sweep,
# p = {glue:text}`p_curvature_down:.3g`. Each p-value rests on {glue:text}`n_draws` draws of
# each null and on the seeds of this profile (the `reference` profile pools 8). Where the probe
# declines smoothly, its change points are the steps by which the detector follows the decline,
# and the test asks whether the curvature bends where those lie.
#
# **Is it the curvature?** ({glue:text}`curvature_specific_verdict`):
# {glue:text}`curvature_specific_text`. In this setting the curvature is nearly a function of
# two simpler quantities: at every point of the sweep
# $R\,(1+\|\nabla E_{\rm rec}\|^2)/(\operatorname{tr}H)^2$ lies between
# {glue:text}`formula_ratio_min:.3f` and {glue:text}`formula_ratio_max:.3f`, i.e.
# $R(E_{\rm rec})\approx(\operatorname{tr}H)^2/(1+\|\nabla E_{\rm rec}\|^2)$, because
# $\operatorname{tr}H^2\ll(\operatorname{tr}H)^2$ and the gradient terms of $R$ are small. Its
# kinks are those of $\|\nabla E_{\rm rec}\|=\beta\|\nabla\mathrm{KL}\|$ and of
# $\operatorname{tr}H$.
#
# ## Which landscape? The training error as a whole
#
# The curvature of the full training error $E_\beta=E_{\rm rec}+\beta\,\mathrm{KL}$ depends on
# the residue of stochastic training through $W^2=1+\|\nabla E\|^2$. Left: $R$ of both
# landscapes; right: the gradient norms. The same change-point test with $R(E_\beta)$ in place
# of $R(E_{\rm rec})$ gives p = {glue:text}`p_curvature_obj:.3g`.

# %%
fig = figures.landscapes(sweeps.up)

# %% [markdown]
# ## Hysteresis between the upward and the downward sweep
#
# Sweeping back down from total collapse, units come back to life later, and not all of them: a
# collapsed unit sits at a stationary point that only the sampling noise can leave. Means over
# the networks:

# %%
fig = figures.hysteresis(sweeps)
display(Markdown(report.markdown_table(figures.collapse_table(sweeps), digits=3)))

# %% [markdown]
# **Hysteresis** ({glue:text}`hysteresis_verdict`): {glue:text}`hysteresis_text`. Going down,
# the networks are fully collapsed down to β ≈ {glue:text}`beta_total_down:.3g` (up:
# {glue:text}`beta_total_up:.3g`).
#
# ## Summary
# The findings of this page, as computed by `l2lib.experiments.vae.findings`; they and all
# numbers above are written to `results/summaries/04_vae.json`.

# %%
report.write_summary("04_vae", numbers, run.info, results_dir, findings=found)
display(Markdown(report.markdown_table(figures.findings_rows(found))))


# %% [markdown]
# ## The reference run
#
# The `reference` profile runs this chapter at the scale that resolves its findings, within an hour
# on two CPU cores (its wall time is in the provenance below). Its results are committed under
# `results-reference/` with their provenance (commit, parameters, machine, date, wall time) and the
# observables behind every figure; CI recomputes their first points with the current code (`l2lib
# reference slices`) and `l2lib results list` says whether code they depend on changed since. Its
# findings, as that run recorded them:

# %%
ref = reference.load_reference_run(reference_dir, "04_vae")
display(Markdown(reference.reference_markdown(ref, profile)))

# %% [markdown]
# The reference run's hysteresis loop, redrawn from its committed up and down sweeps (means
# over its networks):

# %%
ref_loop = ref.hysteresis("vae-digits") if ref is not None and profile != "reference" else None
if ref_loop is not None:
    ref_sweeps = vae.BetaHysteresis(ref_loop.lams, ref_loop.up, ref_loop.down)
    fig = figures.hysteresis(ref_sweeps)
    display(Markdown(report.markdown_table(figures.collapse_table(ref_sweeps), digits=3)))
