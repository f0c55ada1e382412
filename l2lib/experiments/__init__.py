"""One module per chapter, named like it: the runs, and ``findings(...)``, which computes every
number and verdict the chapter reports; beside it ``<module>_profiles`` (chapter 3:
``regime_profiles``; chapter 6: still inside ``jamming_scans``) with ``settings(profile,
**overrides)`` and the table of what each profile changes.

**Why profiles are modules of their own.** A stored result's key covers the code of the modules
that compute it and, in its configuration, every setting (:mod:`l2lib.store`). A profile table
inside the computing module made every stored result of its chapter — the committed reference
runs included — stale whenever one profile was tuned. No computing module imports a
``*_profiles`` module (tested), so an edit there changes only the settings, and so the keys, of
the profile edited. Tune ``quick`` by adding to its entry there, not by changing a settings
dataclass's defaults: those are code of the stores.
"""
