"""Measurements at trained points: observables, curvature, VAE measures, jamming statistics,
saddles. Functions here read models and data; they never train (except the saddle search, which
calls :mod:`l2lib.train.loop`)."""
