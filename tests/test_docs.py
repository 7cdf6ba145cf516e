"""The documentation site builds in strict mode, and the README's links lead somewhere.

``mkdocs build --strict`` fails on any warning: a link to a missing page or anchor, a page
missing from the navigation, an API reference entry (``::: module``) that does not resolve, a
docstring that cannot be parsed. The README is not part of the site, so its relative links and
images are checked here directly.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from doc_pages import ROOT

DOCS_PACKAGES = ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python")


def missing_docs_packages() -> list[str]:
    missing = []
    for name in DOCS_PACKAGES:
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            missing.append(name)
    return missing


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    missing = missing_docs_packages()
    if missing:
        pytest.skip(f"the docs extra is not installed (missing {', '.join(missing)})")
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(ROOT / "src")}
    cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)]
    cmd += ["--config-file", str(ROOT / "mkdocs.yml")]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    warnings = [line for line in log.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert proc.returncode == 0 and not warnings, f"mkdocs build --strict failed:\n{log[-6000:]}"
    return out


def test_the_site_builds_with_every_guide_and_the_api_reference(site: Path) -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    pages = re.findall(r":\s+([\w/.-]+\.md)\s*$", nav, re.M)
    for guide in ("data", "generators", "classifier", "experiments", "cluster", "turing"):
        assert f"{guide}.md" in pages
    for guide in ("audit", "python-api", "benchmarks", "demo", "verdict", "pipeline"):
        assert f"{guide}.md" in pages
    for page in pages:
        assert (site / page.replace(".md", ".html")).is_file(), page
    api = (site / "reference" / "gan.html").read_text(encoding="utf-8")
    for name in ("load_gan", "generate", "generate_uint8", "score_images", "LoadedGan"):
        assert f'id="lesiongan.gan.inference.{name}"' in api
    data = (site / "reference" / "data.html").read_text(encoding="utf-8")
    for name in ("PreparedImageDataset", "SyntheticImageDataset", "real_plus_synthetic"):
        assert f'id="lesiongan.data.torch_datasets.{name}"' in data
    assert 'id="lesiongan.data.manifest.load_dataset"' in data
    assert 'id="lesiongan.data.synthetic.check_leakage"' in data


def test_docstrings_render_without_sphinx_markup(site: Path) -> None:
    """Docstrings are markdown here: Sphinx roles and ``::`` blocks would show as raw text."""
    for page in sorted((site / "reference").glob("*.html")):
        html = page.read_text(encoding="utf-8")
        text = re.sub(r"<[^>]+>", "", html)
        roles = re.findall(r":(?:func|mod|class|meth|attr|data):`", text)
        assert not roles, f"{page.name}: Sphinx roles {roles[:3]} render as text"
        assert not re.search(r"\w::\s*$", text, re.M), f"{page.name}: a '::' literal block"


def test_result_figures_and_images_are_published(site: Path) -> None:
    verdict = (site / "verdict.html").read_text(encoding="utf-8")
    assert "<table>" in verdict  # the quoted verdict tables render as tables
    for src in re.findall(r'<img [^>]*src="([^"]+)"', verdict):
        assert (site / src).is_file(), src


LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def relative_links(markdown: str) -> list[str]:
    """Targets of the markdown links and images that point into the repository."""
    text = re.sub(r"^```.*?^```", "", markdown, flags=re.M | re.S)
    targets = [m.group(1) for m in LINK.finditer(text)]
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:|^#", t)]


def test_readme_links_lead_to_files_and_headings() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = relative_links(readme)
    assert "docs/verdict.md" in links and "docs/index.md" in links
    for target in links:
        path, _, anchor = target.partition("#")
        assert (ROOT / path).exists(), f"README.md links to {target}, which does not exist"
        if anchor:
            headings = (ROOT / path).read_text(encoding="utf-8")
            slugs = {
                re.sub(r"[^\w\s-]", "", h).strip().lower().replace(" ", "-")
                for h in re.findall(r"^#+\s+(.*)$", headings, re.M)
            }
            assert anchor in slugs, f"README.md links to {target}: no such heading"


def test_readme_opens_with_the_two_commands_and_stays_short() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = re.search(r"^```bash\n(.*?)^```", readme, re.M | re.S)
    assert first_block and readme.index(first_block.group(0)) < 400
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands == ["make demo", "make test"]
    assert len(readme.splitlines()) < 150


def test_relative_links_are_found() -> None:
    text = "[a](docs/a.md) ![b](docs/images/b.png) [c](https://x.org) [d](#top)\n"
    text += "```\n[e](f.md)\n```\n"
    assert relative_links(text) == ["docs/a.md", "docs/images/b.png"]
