"""The wheel ships the app: built, installed in a fresh venv, `tusk studio` serves every page."""

from __future__ import annotations

import re
import subprocess
import sys
import sysconfig
import urllib.request
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.e2e.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    free_port,
    server_env,
    start_server,
    stop_server,
    wait_healthy,
    wait_idle,
)
from tusk.ui.shell import PAGES, page_info

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parent.parent
SHIPPED = [
    "tusk/__init__.py",
    "tusk/cli.py",
    "tusk/_app/app.py",
    "tusk/_app/pages/1_Studio.py",
    "tusk/_app/.streamlit/config.toml",
    *(f"tusk/_app/{p.path}" for p in PAGES),
]


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run a command; fail the test with its output if it exits non-zero."""
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        pytest.fail(f"{cmd} exited with {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def build_wheel(outdir: Path) -> Path:
    """Build the repo's wheel (no isolation: hatchling comes from this venv)."""
    run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(outdir)], REPO)
    wheels = list(outdir.glob("tusk-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def fresh_venv(root: Path, wheel: Path) -> Path:
    """A new venv holding only the wheel; other packages come from this venv's site-packages."""
    run([sys.executable, "-m", "venv", "--without-pip", str(root)], root.parent)
    python = root / "bin" / "python"
    site = Path(
        run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            root.parent,
        ).strip()
    )
    # Paths in a .pth file are appended after the venv's own site-packages, and .pth files
    # inside them are not processed: the repo's editable install (_editable_impl_tusk.pth,
    # which adds /work/main) stays inactive, so `tusk` can only come from the wheel.
    (site / "repo_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    pip = Path(sys.executable).with_name("pip")
    run(
        [
            str(pip),
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            "--disable-pip-version-check",
            str(wheel),
        ],
        root.parent,
    )
    return python


def test_wheel_ships_app_and_serves_it(tmp_path: Path) -> None:
    """The built wheel contains the app and runs it from outside the checkout."""
    wheel = build_wheel(tmp_path / "dist")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    missing = [name for name in SHIPPED if name not in names]
    assert not missing, f"{wheel.name} lacks {missing}"

    python = fresh_venv(tmp_path / "venv", wheel)
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    env = server_env(tmp_path / "tusk-home")
    for key in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
        env.pop(key, None)

    where = run(
        [
            str(python),
            "-c",
            "import tusk, tusk.cli; print(tusk.__file__); print(tusk.cli.app_dir())",
        ],
        workdir,
        env,
    ).split()
    package = Path(where[0]).resolve().parent
    app_dir = Path(where[1]).resolve()
    assert not package.is_relative_to(REPO), f"tusk imported from the checkout: {package}"
    assert package.is_relative_to((tmp_path / "venv").resolve()), package
    assert app_dir == package / "_app"

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    cmd = [str(python), "-m", "tusk.cli", "studio", "--host", "127.0.0.1", "--port", str(port)]
    proc = start_server(cmd, env, workdir, log)
    try:
        wait_healthy(proc, base_url, log)
        # `tusk studio` execs Streamlit in the same process: it runs the wheel's app.py.
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
        assert str(app_dir / "app.py").encode() in cmdline, cmdline
        with urllib.request.urlopen(base_url + "/", timeout=10) as resp:
            assert resp.status == 200
            assert resp.headers.get_content_type() == "text/html"
            assert "<html" in resp.read().decode().lower()
        assert (tmp_path / "tusk-home" / "demo.duckdb").exists()

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                for label, path in (("Home", "/"), ("Studio", "/Studio")):
                    page.goto(base_url + path)
                    wait_idle(page)
                    expect(page).to_have_title(f"Tusk · {page_info(label).label}")
                    heading = page.get_by_role("heading", level=1, name=re.compile(rf"\b{label}$"))
                    expect(heading).to_be_visible()
                    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
            finally:
                browser.close()
    finally:
        stop_server(proc)
        output = log.read_text(errors="replace")
    assert "Traceback" not in output, output
