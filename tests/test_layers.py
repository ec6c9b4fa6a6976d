"""Layers: runtime code never imports evaluation, benchmark or training code, and nothing under
vstream/ imports the tests.

Every import counts, at module level or inside a function, read from each module's syntax tree
(nothing is imported). The rules:

1. No runtime module imports `FORBIDDEN` (evaluation, benchmarks, training). Runtime is every
   module under vstream/ except those in `FORBIDDEN` themselves (they may import each other and
   the runtime) and the CLI's commands (`CLI`); the rest of vstream/cli/ (parser, the sql and
   events commands' workings) is runtime.
2. The CLI's commands import them only inside the commands that dispatch to them
   (`CLI_DISPATCH`).
3. No module under vstream/ or kernels/ imports `tests`.
4. kernels/ (installed as vstream.kernels) imports nothing from vstream outside itself.
5. kafka-python's clients are made only in `vstream.kafka.clients` (one error for a broker that
   does not answer).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

#: what runtime code must not import: evaluation, benchmarks, training (distillation and the
#: teacher outputs and frame samples it trains on)
FORBIDDEN = ("vstream.eval", "vstream.bench", "vstream.detect.distill",
             "vstream.detect.distill_sources", "vstream.detect.teacher_cache",
             "vstream.detect.video_samples")
CLI = "vstream.cli.commands"
#: the CLI functions that may import FORBIDDEN modules (lazily: `vstream train`, `vstream bench`)
CLI_DISPATCH = frozenset({"cmd_train", "cmd_bench"})
#: the one module that makes kafka-python clients, and the clients
KAFKA_CLIENTS = "vstream.kafka.clients"
KAFKA_CLIENT_CLASSES = ("kafka.KafkaProducer", "kafka.KafkaConsumer", "kafka.KafkaAdminClient")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[0] == "kernels":
        parts.insert(0, "vstream")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules(folder: str) -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((REPO / folder).rglob("*.py"))}


def _within(name: str, prefixes: tuple[str, ...] | str) -> bool:
    prefixes = (prefixes,) if isinstance(prefixes, str) else prefixes
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def imports(module: str, path: Path) -> list[tuple[str, str | None, int]]:
    """(imported module, enclosing top-level function or None, line) of every import in the
    module; `from a import b` gives both a and a.b (b may be a module), relative imports are
    resolved against `module`."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found: list[tuple[str, str | None, int]] = []

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            inside = function
            if function is None and isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                inside = child.name
            if isinstance(child, ast.Import):
                found.extend((a.name, inside, child.lineno) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = package[: len(package) - child.level + 1] if child.level else []
                name = ".".join(base + ([child.module] if child.module else []))
                found.append((name, inside, child.lineno))
                found.extend((f"{name}.{a.name}", inside, child.lineno) for a in child.names)
            visit(child, inside)

    visit(tree, None)
    return found


RUNTIME = {m: p for m, p in _modules("vstream").items() if not _within(m, FORBIDDEN) and m != CLI}


def test_the_rules_see_the_code() -> None:
    # a renamed folder must not leave a rule checking nothing
    everything = _modules("vstream")
    for name in FORBIDDEN:
        assert any(_within(m, name) for m in everything), f"{name}: no such module any more"
    assert CLI in everything and len(RUNTIME) > 40
    cli_functions = {n.name for n in ast.parse(everything[CLI].read_text()).body
                     if isinstance(n, ast.FunctionDef)}
    assert CLI_DISPATCH <= cli_functions
    assert KAFKA_CLIENTS in everything


@pytest.mark.parametrize("module", sorted(RUNTIME))
def test_runtime_imports_no_evaluation_benchmark_or_training(module: str) -> None:
    bad = [f"line {line}: {name}" for name, _, line in imports(module, RUNTIME[module])
           if _within(name, FORBIDDEN)]
    assert not bad, f"{module} is runtime code and imports {bad}: move what it needs into the runtime"


def test_the_cli_dispatches_to_them_only_inside_its_commands() -> None:
    path = _modules("vstream")[CLI]
    bad = [f"line {line}: {name}" for name, function, line in imports(CLI, path)
           if _within(name, FORBIDDEN) and function not in CLI_DISPATCH]
    assert not bad, f"{CLI} imports {bad} outside {sorted(CLI_DISPATCH)}"


@pytest.mark.parametrize("folder", ["vstream", "kernels"])
def test_nothing_imports_the_tests(folder: str) -> None:
    bad = [f"{m} line {line}: {name}" for m, p in _modules(folder).items()
           for name, _, line in imports(m, p) if _within(name, ("tests", "conftest"))]
    assert not bad, f"package code imports the tests: {bad}"


def test_kernels_import_nothing_from_vstream() -> None:
    bad = [f"{m} line {line}: {name}" for m, p in _modules("kernels").items()
           for name, _, line in imports(m, p)
           if _within(name, "vstream") and not _within(name, "vstream.kernels")]
    assert not bad, f"kernels/ must stay free of vstream imports: {bad}"


def test_kafka_clients_are_made_in_one_place() -> None:
    bad = [f"{m} line {line}: {name}" for m, p in _modules("vstream").items() if m != KAFKA_CLIENTS
           for name, _, line in imports(m, p) if _within(name, KAFKA_CLIENT_CLASSES)]
    assert not bad, f"make Kafka clients with {KAFKA_CLIENTS}: {bad}"


@pytest.mark.parametrize(("source", "module", "expected"), [
    ("import vstream.eval.mot", "vstream.a", "vstream.eval.mot"),
    ("from vstream import eval", "vstream.a", "vstream.eval"),
    ("from ..eval import mot", "vstream.track.x", "vstream.eval.mot"),
    ("from . import bench", "vstream.x", "vstream.bench"),
    ("def f():\n    from vstream.bench.runner import run", "vstream.a", "vstream.bench.runner"),
])
def test_imports_are_found_however_written(tmp_path: Path, source: str, module: str,
                                           expected: str) -> None:
    path = tmp_path / "m.py"
    path.write_text(source)
    assert expected in {name for name, _, _ in imports(module, path)}
