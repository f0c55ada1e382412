"""The book machinery: figure style and per-chapter figures, chapter reports and summaries, the
reproducibility page, papermill execution, batch runs and the ``l2lib`` command line."""
