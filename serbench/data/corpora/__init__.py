"""Loaders of licensed corpora read from a local copy (layouts: docs/datasets.md).

Label names are shared across corpora (angry, happy, neutral, sad, fear,
disgust, surprise, calm, boredom, guilt) so cross-corpus pairs map by name.
"""
