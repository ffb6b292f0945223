"""Keep the chapter notebooks clean: stored without outputs, execution counts or widget state.

    python -m bigmodel_lib.notebook_tools strip chapters   # rewrite notebooks in place
    python -m bigmodel_lib.notebook_tools check chapters   # list problems, exit 1 if any
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

KERNEL_NAME = "python3"


def find_notebooks(root: str | Path) -> list[Path]:
    """Every ``.ipynb`` under ``root`` (or ``root`` itself if it is one), skipping checkpoint folders."""
    root = Path(root)
    if root.is_file():
        return [root] if root.suffix == ".ipynb" else []
    if not root.exists():
        raise FileNotFoundError(f"notebook_tools: no such file or folder: {root}")
    return sorted(p for p in Path(root).rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def problems(path: Path) -> list[str]:
    """What is wrong with one stored notebook (an empty list when it is clean)."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        return [f"{path}: not a readable notebook ({error})"]
    found = []
    kernel = nb.get("metadata", {}).get("kernelspec", {}).get("name")
    if kernel != KERNEL_NAME:
        found.append(f"{path}: kernelspec name is {kernel!r}, expected {KERNEL_NAME!r}")
    if "widgets" in nb.get("metadata", {}):
        found.append(f"{path}: stored widget state in metadata")
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        if cell.get("outputs"):
            found.append(f"{path}: cell {i} has stored outputs")
        if cell.get("execution_count") is not None:
            found.append(f"{path}: cell {i} has an execution count")
    return found


def strip(path: Path) -> bool:
    """Remove outputs, execution counts and widget state; return True if the file changed."""
    text = path.read_text(encoding="utf-8")
    nb = json.loads(text)
    nb.get("metadata", {}).pop("widgets", None)
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        cell.get("metadata", {}).pop("execution", None)
    new_text = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
    if new_text != text:
        path.write_text(new_text, encoding="utf-8")
        return True
    return False


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("strip", "check"):
        print(__doc__)
        return 2
    command, roots = argv[0], argv[1:]
    notebooks = [nb for root in roots for nb in find_notebooks(root)]
    if command == "strip":
        changed = [nb for nb in notebooks if strip(nb)]
        print(f"stripped {len(changed)} of {len(notebooks)} notebooks")
        return 0
    found = [line for nb in notebooks for line in problems(nb)]
    print("\n".join(found) if found else f"{len(notebooks)} notebooks clean")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
