"""The shape of aura_core that review asked for and that nothing else would keep: short units."""
import ast

from conftest import REPO

MAX_FUNCTION_LINES = 80


def test_no_function_in_aura_core_is_longer_than_80_lines():
    long = []
    for path in sorted((REPO / "aura_core").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, long
