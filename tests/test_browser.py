"""The widgets in a real browser: JupyterLab, headless Chromium, each notebook run end to end.

What a learner does: open a notebook in JupyterLab, *Run All Cells*, move a control of a widget. For
every notebook with a playground or an explorer (3.2, 3.3, 3.4, 3.6, 4.3, 4.4) the test checks that
the widget renders, that moving a control changes its picture, and that no JavaScript error shows up.

Needs Debian's Chromium and the Playwright package (Playwright cannot download its own browser here)::

    scripts/ensure_chromium.sh        # or: apt-get install chromium
    pip install playwright

Without them the test is skipped. Set ``BIGMODEL_SCREENSHOTS=/some/dir`` to keep screenshots.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "chapters"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
TOKEN = "bigmodel-browser-test"

@dataclass(frozen=True)
class WidgetCase:
    """A notebook, the widget to find in it, and what to do to it (each action must change the picture)."""

    notebook: str  # relative to chapters/
    css_class: str  # the widget's own class (see bigmodel_lib.viz.widgets)
    actions: tuple[tuple[str, str], ...]  # ("button", name) | ("checkbox", label) | ("slider", label)
    parameters: str = ""  # appended to the parameters cell: a shorter run where the notebook allows it
    run_timeout_s: int = 300


CASES = [
    WidgetCase("01_background/01_2_what_scale_costs.ipynb", "bigmodel-scale-calculator",
               (("slider", "MFU"), ("slider", "number of GPUs"))),
    WidgetCase("03_attention/03_2_scaling_softmax_and_gradients.ipynb", "bigmodel-softmax-playground",
               (("checkbox", "divide by √d_k"), ("slider", "temperature T"))),
    WidgetCase("03_attention/03_3_masks_and_multihead.ipynb", "bigmodel-mask-playground",
               (("checkbox", "causal mask"),)),
    WidgetCase("03_attention/03_4_positional_encoding.ipynb", "bigmodel-positional-explorer",
               (("slider", "position"),)),
    # the explorer's model only has to exist, not to be good: 40 steps keep the run short
    WidgetCase("03_attention/03_6_attention_explorer.ipynb", "bigmodel-attention-explorer",
               (("button", "1"), ("slider", "hide below")), parameters="TRAIN_STEPS = 40"),
    # 4.3 and 4.4 assert their accuracy, so they train with their own knobs (a few minutes each)
    WidgetCase("04_code/04_3_seq2seq_attention_dates.ipynb", "bigmodel-attention-explorer",
               (("slider", "hide below"),), run_timeout_s=1200),
    WidgetCase("04_code/04_4_transformer_dates.ipynb", "bigmodel-attention-explorer",
               (("button", "1"), ("slider", "hide below")), run_timeout_s=1200),
]

# Console errors that are not ours, each with the reason it is harmless. None so far with
# JupyterLab 4.6 and Chromium 156: add one here only with its reason, never a catch-all.
BENIGN_CONSOLE_ERRORS: dict[str, str] = {}

try:  # skipped, not failed, where the browser tooling is missing
    from playwright.sync_api import Page, sync_playwright
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None


def _skip_reason() -> str | None:
    if sync_playwright is None:
        return "the playwright package is missing: pip install playwright (then scripts/ensure_chromium.sh)"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing: run scripts/ensure_chromium.sh (or apt-get install chromium)"
    return None


pytestmark = [pytest.mark.browser, pytest.mark.skipif(_skip_reason() is not None, reason=str(_skip_reason()))]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]

MERMAID_FENCE = re.compile(r"^```mermaid\s*$", re.MULTILINE)


def _mermaid_blocks(path: Path) -> int:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return sum(len(MERMAID_FENCE.findall("".join(c["source"]))) for c in cells if c["cell_type"] == "markdown")


MERMAID_NOTEBOOKS = sorted(p for p in CHAPTERS.rglob("*.ipynb") if _mermaid_blocks(p) > 0)


def _notebook_copy(case: WidgetCase, folder: Path) -> Path:
    """The chapter notebook, with ``case.parameters`` appended to its parameters cell, in ``folder``."""
    source_path = CHAPTERS / case.notebook
    notebook = json.loads(source_path.read_text(encoding="utf-8"))
    if case.parameters:
        cells = [c for c in notebook["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(cells) == 1, f"{case.notebook}: expected one cell tagged 'parameters'"
        name = case.parameters.split("=")[0].strip()
        assert f"{name} = " in "".join(cells[0]["source"]), f"the parameters cell no longer sets {name}"
        cells[0]["source"] = "".join(cells[0]["source"]) + f"\n{case.parameters}  # (browser test: a short run)\n"
    path = folder / source_path.name
    path.write_text(json.dumps(notebook), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A JupyterLab server on 127.0.0.1 serving copies of the notebooks; yields its base URL."""
    tmp_path = tmp_path_factory.mktemp("jupyterlab")
    served = tmp_path / "served"
    served.mkdir()
    for path in MERMAID_NOTEBOOKS:
        (served / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    for case in CASES:
        _notebook_copy(case, served)
    settings = tmp_path / "lab-settings" / "@jupyterlab"
    for extension, plugin, values in (
        # No news, no update checks: nothing may be fetched from the internet.
        ("apputils-extension", "notification", {"fetchNews": "false", "checkForUpdates": False}),
        # Start the notebook's kernel (python3) without asking in a dialog; render every cell (no
        # windowing), so a widget far down the notebook is in the page.
        ("notebook-extension", "tracker", {"autoStartDefaultKernel": True, "windowingMode": "none"}),
    ):
        (settings / extension).mkdir(parents=True, exist_ok=True)
        (settings / extension / f"{plugin}.jupyterlab-settings").write_text(json.dumps(values), encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if key != "MPLBACKEND"}  # the kernel's inline plots
    env.update({
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
        "JUPYTER_PLATFORM_DIRS": "1",
    })
    port = _free_port()
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={TOKEN}", "--ServerApp.open_browser=False",
        f"--ServerApp.root_dir={served}", "--ServerApp.terminals_enabled=False",
        f"--LabApp.user_settings_dir={tmp_path / 'lab-settings'}",
        f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
        "--LabApp.extension_manager=readonly",  # no PyPI queries for the extension manager
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI containers run as root; Jupyter refuses unless told
        command.append("--allow-root")
    log = (tmp_path / "jupyterlab.log").open("w")
    server = subprocess.Popen(command, cwd=served, env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)  # its own process group: kernels included
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("JupyterLab did not start:\n" + (tmp_path / "jupyterlab.log").read_text()[-3000:])
            time.sleep(0.5)
        yield base
    finally:
        _stop_server(server, base)
        log.close()


def _stop_server(server: subprocess.Popen, base: str) -> None:
    """Shut JupyterLab and its kernels down: politely through the API, then by signal, bounded."""
    if server.poll() is None:
        try:
            request = urllib.request.Request(f"{base}/api/shutdown", method="POST",
                                             headers={"Authorization": f"token {TOKEN}"})
            urllib.request.urlopen(request, timeout=5).close()
        except OSError:
            pass
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)
    try:  # anything left in the server's own process group (a kernel that outlived it)
        os.killpg(server.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _wait_until_all_cells_ran(page: Page, timeout_s: float) -> None:
    """Every code cell has an execution count and none is running ``[*]`` -- or a cell failed
    (JupyterLab stops a *Run All* at the first error, so the remaining cells would never run)."""
    page.wait_for_function(
        """() => {
            const failed = [...document.querySelectorAll('.jp-OutputArea-output')]
                .some(o => o.getAttribute('data-mime-type') === 'application/vnd.jupyter.stderr'
                           && /Traceback|Error:/.test(o.textContent));
            const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')];
            return failed || (prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent)));
        }""",
        timeout=timeout_s * 1000,
    )


def _wait_for_new_picture(page: Page, image, old_src: str | None, what: str) -> None:
    try:
        page.wait_for_function("([img, old]) => img.src !== old && img.complete && img.naturalWidth > 0",
                               arg=[image.element_handle(), old_src], timeout=20_000)
    except PlaywrightTimeout:
        raise AssertionError(f"the picture did not change after {what}") from None


def _act(page: Page, widget, kind: str, label: str) -> None:
    """Do what a learner does to one control of ``widget``."""
    if kind == "button":
        widget.get_by_role("button", name=label, exact=True).click()
    elif kind == "checkbox":
        widget.locator(".widget-checkbox", has_text=label).locator("input").click()
    elif kind == "slider":  # moved with the keyboard, like a learner's arrow keys
        handle = widget.locator(".widget-slider", has_text=label).locator(".noUi-handle")
        handle.focus()
        for _ in range(6):
            page.keyboard.press("ArrowRight")
    else:
        raise ValueError(f"unknown action {kind!r}")


@pytest.mark.parametrize("case", CASES, ids=lambda c: Path(c.notebook).stem)
def test_widget_renders_and_reacts_in_jupyterlab(jupyterlab: str, case: WidgetCase, tmp_path: Path) -> None:
    screenshots = Path(os.environ.get("BIGMODEL_SCREENSHOTS", tmp_path / "screenshots"))
    screenshots.mkdir(parents=True, exist_ok=True)
    stem = Path(case.notebook).stem
    page_errors: list[str] = []
    console_errors: list[str] = []

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True,
                                             timeout=60_000)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(30_000)
            page.on("pageerror", lambda error: page_errors.append(str(error)))
            page.on("console", lambda message: console_errors.append(message.text)
                    if message.type == "error" else None)

            page.goto(f"{jupyterlab}/lab/tree/{Path(case.notebook).name}?token={TOKEN}&reset", timeout=60_000)
            page.locator(".jp-NotebookPanel .jp-Notebook").wait_for(timeout=60_000)
            select_kernel = page.locator(".jp-Dialog .jp-mod-accept", has_text="Select")
            try:  # should not appear (autoStartDefaultKernel), but if a Lab version still asks: accept
                select_kernel.click(timeout=5_000)
            except PlaywrightTimeout:
                pass
            # the kernel is up when the toolbar's kernel status reads "Idle"
            page.wait_for_function(
                "() => [...document.querySelectorAll('.jp-Notebook-ExecutionIndicator, .jp-KernelStatus')]"
                ".some(e => /idle/i.test(e.getAttribute('data-status') || e.textContent || ''))",
                timeout=60_000,
            )

            # Run > Run All Cells, as a learner would
            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
            _wait_until_all_cells_ran(page, timeout_s=case.run_timeout_s)
            errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                                  has_text=re.compile(r"Traceback|Error:"))
            assert errors.count() == 0, f"{stem}: a cell failed: {errors.first.inner_text()[-2000:]}"

            widget = page.locator(f".{case.css_class}").first
            widget.wait_for(state="visible", timeout=30_000)
            image = widget.locator("img.bigmodel-widget-image")
            image.wait_for(state="visible")
            page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
            widget.scroll_into_view_if_needed()
            shot = image.screenshot(path=str(screenshots / f"{stem}_before.png"))
            for step, (kind, label) in enumerate(case.actions, start=1):
                src_before = image.get_attribute("src")
                _act(page, widget, kind, label)
                _wait_for_new_picture(page, image, src_before, f"{kind} {label!r}")
                new_shot = image.screenshot(path=str(screenshots / f"{stem}_{step}.png"))
                assert new_shot != shot, f"{stem}: the picture looks the same after {kind} {label!r}"
                shot = new_shot
            page.screenshot(path=str(screenshots / f"{stem}_jupyterlab.png"))
        except Exception:
            page.screenshot(path=str(screenshots / f"{stem}_failure.png"))  # what the page looked like
            print(f"screenshot of the failure: {screenshots / (stem + '_failure.png')}; page errors: {page_errors}; "
                  f"console errors: {console_errors}")
            raise
        finally:
            browser.close()

    assert not page_errors, f"JavaScript errors in the page: {page_errors}"
    unexpected = [text for text in console_errors if not any(benign in text for benign in BENIGN_CONSOLE_ERRORS)]
    assert not unexpected, f"console errors: {unexpected}"


def _open_notebook(page: Page, base: str, name: str) -> None:
    page.goto(f"{base}/lab/tree/{name}?token={TOKEN}&reset", timeout=60_000)
    page.locator(".jp-NotebookPanel .jp-Notebook").wait_for(timeout=60_000)


def test_every_notebook_has_diagrams_where_the_issue_asks() -> None:
    wanted = {"02_1_neurons_layers_backprop", "03_1_from_similarity_to_attention", "03_3_masks_and_multihead",
              "04_3_seq2seq_attention_dates", "04_4_transformer_dates", "04_5_small_gpt"}
    assert wanted <= {p.stem for p in MERMAID_NOTEBOOKS}


@pytest.mark.parametrize("path", MERMAID_NOTEBOOKS, ids=lambda p: p.stem)
def test_mermaid_diagrams_render_in_jupyterlab(jupyterlab: str, path: Path, tmp_path: Path) -> None:
    """Each ```mermaid block of the notebook becomes a picture in JupyterLab, none a syntax warning."""
    expected = _mermaid_blocks(path)
    screenshots = Path(os.environ.get("BIGMODEL_SCREENSHOTS", tmp_path / "screenshots"))
    screenshots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True,
                                             timeout=60_000)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            _open_notebook(page, jupyterlab, path.name)
            diagrams = page.locator(".jp-RenderedMermaid")
            page.wait_for_function(
                "n => document.querySelectorAll('.jp-RenderedMermaid').length >= n && "
                "[...document.querySelectorAll('.jp-RenderedMermaid')].every("
                "d => d.classList.contains('jp-mod-warning') || d.querySelector('svg, img'))",
                arg=expected, timeout=60_000,
            )
            warnings = page.locator(".jp-RenderedMermaid.jp-mod-warning")
            messages = [warnings.nth(i).inner_text()[:500] for i in range(warnings.count())]
            assert messages == [], f"{path.name}: Mermaid could not draw: {messages}"
            assert diagrams.count() == expected
            for i in range(expected):
                diagrams.nth(i).scroll_into_view_if_needed()
                diagrams.nth(i).screenshot(path=str(screenshots / f"{path.stem}_mermaid_{i}.png"))
        finally:
            browser.close()
