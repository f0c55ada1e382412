"""One module per chapter, named like it: ``settings(profile, **overrides)``, the runs, and
``findings(...)``, which computes every number and verdict the chapter reports."""
