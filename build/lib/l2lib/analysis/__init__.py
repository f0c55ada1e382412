"""Analysis of measured curves: closed forms (:mod:`~l2lib.analysis.theory`), transitions and
change points (:mod:`~l2lib.analysis.transitions`), the VAE collapse steps
(:mod:`~l2lib.analysis.collapse`) and findings with their verdicts
(:mod:`~l2lib.analysis.findings`)."""
