"""Package list for setuptools: the ``claimscrub`` tree under engine/ plus the repository's rules/ and schemas/.

pyproject.toml cannot combine package discovery with the two mapped packages
(``claimscrub._rules`` = rules/, ``claimscrub._schemas`` = schemas/): ``packages.find``
only sees folders under engine/, and a fixed list would silently drop a new
subpackage. So discovery runs here and everything else stays in pyproject.toml.
"""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(where="engine", include=["claimscrub", "claimscrub.*"]),
        "claimscrub._rules",
        "claimscrub._schemas",
    ]
)
