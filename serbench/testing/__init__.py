"""serbench's test kit for plugin authors: the pytest plugin (:mod:`serbench.testing.pytest_plugin`, loaded by
pytest automatically once serbench is installed) and what its fixtures build (:mod:`serbench.testing.kit`).

Nothing is imported here: pytest imports the plugin in every session of the environment, so it stays cheap.
"""
