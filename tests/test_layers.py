"""The package's layers: data flows one way, so a module imports only from its own layer or the ones before it.

The order is the README's architecture table. A new import that reaches up
(say, the fact builder importing the CLI) fails here with the file and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "engine" / "claimscrub"

# Lowest first. Modules at the top of the package (yamlio, resources, sourcepaths, filecache) are leaves every layer may use.
LAYERS = [
    "yamlio",
    "resources",
    "sourcepaths",
    "filecache",
    "model",
    "refdata",
    "documentation",
    "inputs",
    "lang",
    "compile",
    "backends",
    "policy",
    "history",
    "api",
    "audit",
    "output",
    "report",
    "spark",
    "authoring",
    "service",
    "cli",
]


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "claimscrub" or len(parts) < 2:
        return None
    return parts[1]


def imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return found


def test_every_subpackage_has_a_layer():
    subpackages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert subpackages | modules <= set(LAYERS), (
        f"give these a place in LAYERS: {sorted((subpackages | modules) - set(LAYERS))}"
    )


def test_no_module_reaches_up():
    reaching_up = []
    for path in sorted(PACKAGE.rglob("*.py")):
        own = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        if own == "__init__":
            continue  # the package's lazy API names the pipeline by string, on purpose
        for lineno, module in imports(path):
            target = layer_of(module)
            if target in LAYERS and own in LAYERS and LAYERS.index(target) > LAYERS.index(own):
                reaching_up.append(f"{path.relative_to(PACKAGE.parent)}:{lineno} ({own}) imports {module} ({target})")
    assert not reaching_up, "\n".join(reaching_up)
