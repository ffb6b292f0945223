"""The two model packages mirror each other and never import each other (shared code is in contracts)."""

import ast
import subprocess
import sys
from pathlib import Path

LIB = Path(__file__).parent.parent / "bigmodel_lib"


def imported_modules(path: Path, *, top_level_only: bool = False) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body if top_level_only else ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_nn_torch_and_contracts_never_import_nn_numpy() -> None:
    offenders = [
        f"{path.relative_to(LIB)} imports {module}"
        for folder in ("nn_torch", "contracts")
        for path in sorted((LIB / folder).glob("*.py"))
        for module in imported_modules(path)
        if module.startswith("bigmodel_lib.nn_numpy")
    ]
    assert offenders == []


def test_nn_numpy_and_contracts_never_import_torch_at_module_level() -> None:
    # from_pytorch converters import torch inside the function: a NumPy-only reader never needs it
    offenders = [
        f"{path.relative_to(LIB)} imports {module}"
        for folder in ("nn_numpy", "contracts")
        for path in sorted((LIB / folder).glob("*.py"))
        for module in imported_modules(path, top_level_only=True)
        if module.startswith(("bigmodel_lib.nn_torch", "torch"))
    ]
    assert offenders == []


def test_importing_nn_torch_loads_no_numpy_model_module() -> None:
    code = "import sys, bigmodel_lib.nn_torch; print(sorted(m for m in sys.modules if 'nn_numpy' in m))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_packages_mirror_each_other_file_by_file() -> None:
    numpy_files = {p.name for p in (LIB / "nn_numpy").glob("*.py")}
    torch_files = {p.name for p in (LIB / "nn_torch").glob("*.py")}
    # functional.py holds the NumPy backward helpers that PyTorch's autograd makes unnecessary
    assert numpy_files - torch_files <= {"functional.py"}
    assert torch_files - numpy_files == set()
