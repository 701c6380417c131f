"""The JSON schemas of claims, encounters, rules, rule tests and tables: shipped as ``claimscrub._schemas``.

A regular package so that ``importlib.resources`` finds it in editable installs too.
"""
