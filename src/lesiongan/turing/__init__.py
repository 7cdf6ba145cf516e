"""Visual Turing test: clinicians judge real vs synthetic lesion images in a small web app.

``study`` builds a blinded study database, ``app`` serves it (FastAPI + SQLite), ``results``
computes per-rater accuracy, binomial tests, Fleiss' kappa and fool rates.
"""
