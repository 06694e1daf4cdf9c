"""The ``segments`` command line: the one package that imports both ``workflow`` and ``dashboard``.

``workflow`` (data, features, sweep, MLflow) and ``dashboard`` (the Panel app, which reads the registry
through ``workflow.tracking``) depend on nothing above them; the commands that drive both live here.
See ``docs/architecture.md``.
"""
