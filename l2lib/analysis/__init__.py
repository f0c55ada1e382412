"""Analysis of measured curves: closed forms (:mod:`~l2lib.analysis.theory`), transitions and
change points (:mod:`~l2lib.analysis.transitions`), chapter 3's simultaneous jumps
(:mod:`~l2lib.analysis.staircase`) and how strong the ones below its threshold are
(:mod:`~l2lib.analysis.weak_jumps`), the VAE collapse steps
(:mod:`~l2lib.analysis.collapse`) and findings with their verdicts
(:mod:`~l2lib.analysis.findings`)."""
