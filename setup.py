"""Only what pyproject.toml cannot say: the wheel carries the demo page (the repository's static/
folder) inside the package, as tryon_server/static, so an installed server serves it too.
Everything else about the package is in pyproject.toml."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["tryon_server", "tryon_server.*"]), "tryon_server.static"],
    package_dir={"tryon_server.static": "static"},
)
