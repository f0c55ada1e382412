"""The package tree follows the data flow: imports only point downward, no cycles, no private
names imported across modules (read from the sources with ast, nothing is imported)."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "l2lib"

# lower layers first; a module may import its own layer (without a cycle) or any lower one
LAYERS = {"runtime": 0, "store": 0, "data": 1, "models": 2, "train": 3, "measure": 4,
          "analysis": 5, "experiments": 6, "book": 7, "__main__": 8, "__init__": 8}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS[parts[1] if len(parts) > 1 else "__init__"]


def l2lib_imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(imported module, imported names, line) for every import of l2lib in ``path``."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("l2lib"):
            assert node.level == 0, f"{path}: use absolute imports"
            out.append((node.module, [a.name for a in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names if a.name.startswith("l2lib")]
    return out


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def resolve(module: str, names: list[str]) -> list[str]:
    """The modules an import statement loads: ``from l2lib.pkg import mod`` loads l2lib.pkg.mod."""
    found = [f"{module}.{n}" for n in names if f"{module}.{n}" in MODULES]
    return found or [module]


def graph() -> dict[str, set[str]]:
    return {m: {t for mod, names, _ in l2lib_imports(p) for t in resolve(mod, names)}
            for m, p in MODULES.items()}


def test_every_module_is_in_a_known_layer():
    for module in MODULES:
        if module != "l2lib":
            assert module.split(".")[1] in LAYERS, f"{module}: add its folder to LAYERS"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_downward(module):
    if module == "l2lib":
        return
    for target in graph()[module]:
        if target == "l2lib":
            continue
        assert layer(target) <= layer(module), (
            f"{module} (layer {layer(module)}) imports {target} (layer {layer(target)}): "
            "an upward import")


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of the directed graph ``edges`` (as a path), or None."""
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack + [node, nxt]
            if nxt not in state and (cycle := visit(nxt, stack + [node])):
                return cycle
        state[node] = 2
        return None

    for module in sorted(edges):
        if module not in state and (cycle := visit(module, [])):
            return cycle
    return None


def test_no_import_cycle():
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " → ".join(cycle or [])


def test_no_private_name_is_imported_across_modules():
    for path in MODULES.values():
        for target, names, line in l2lib_imports(path):
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            assert not private, f"{path.name}:{line} imports private {private} from {target}"


def test_the_checks_can_fail():
    """Negative controls: an upward edge and a cycle are caught."""
    assert layer("l2lib.book.plots") > layer("l2lib.train.loop")
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
