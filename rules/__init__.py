"""The bundled rule packs, value sets and tables: data, shipped in the wheel as ``claimscrub._rules``.

A regular package (not a namespace one) so that ``importlib.resources`` finds it in
editable installs too, where setuptools maps it onto this folder.
"""
