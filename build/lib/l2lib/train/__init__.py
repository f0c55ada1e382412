"""Training: losses, the training loop, sweeps, the hinge minimiser, Pathfinder, baselines.

* :mod:`l2lib.train.losses`: errors E(θ) per member, the β-objective of a VAE;
* :mod:`l2lib.train.loop`: ``train`` — minimise E + (λ/2)‖θ − θ_ref‖² per member;
* :mod:`l2lib.train.sweep`: warm, up-and-down (hysteresis) and independent sweeps, stored;
* :mod:`l2lib.train.hinge`, :mod:`l2lib.train.scan`: the jamming minimiser and its N*(P) scan;
* :mod:`l2lib.train.pathfinder`, :mod:`l2lib.train.baselines`: paths between minima.
"""
