"""Models: ensembles of MLPs and VAEs (member axis first) and the one flat-parameter view.

* :mod:`l2lib.models.mlp`: ``EnsembleMLP``, its constructors (``mlp``, ``deep_linear``,
  ``jamming_net``) and parameter counts;
* :mod:`l2lib.models.vae`: ``EnsembleVAE`` and its ELBO terms;
* :mod:`l2lib.models.flat`: ``FlatLayout``, flat vectors ↔ named parameters, ``functional``.
"""
