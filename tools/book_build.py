"""Sphinx extension: what the book's build adds to each chapter.

Loaded through ``sphinx: local_extensions`` in ``_config.yml``.

The install cell
----------------
Every chapter imports the library ``statmech_dl``. In the repository, on Binder
and in CI it is installed; in a chapter downloaded as ``.ipynb`` from the website
it is not. The build therefore inserts, before a chapter's first code cell, a
cell that installs the library when it is missing, from the repository and branch
named in ``_config.yml`` (``repository: url`` and ``branch``, the one place that
names them, so that a fork installs its own library). Where the library is
present the cell does nothing; where it cannot be installed it stops with a
message that says what to run. On the web page the cell is removed (tag
``remove-cell``); it stays in the downloadable notebook. Chapters that use torch
also install its CPU build from the PyTorch index, not the several-GB CUDA build
that plain PyPI gives.
"""

import re

INSTALL_TAG = "install-library"
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"

_CELL = '''```{{code-cell}} ipython3
:tags: [remove-cell, {tag}]

# Installs the book's library where it is missing (a downloaded copy of this chapter); else does nothing.
try:
    import statmech_dl  # noqa: F401
except ModuleNotFoundError:
    import subprocess
    import sys

    _install = [sys.executable, "-m", "pip", "install", {options}"statmech-dl[{extras}] @ git+{url}@{branch}"]
    print("Installing the library statmech_dl:", " ".join(_install[3:]))
    if subprocess.run(_install).returncode != 0:
        raise RuntimeError(
            "This chapter needs the library statmech_dl, and installing it failed (no network?). Run\\n    "
            + " ".join(_install[:-1]) + " '" + _install[-1] + "'\\n"
            "in a terminal, then restart the kernel; or clone the repository and run `make book`.") from None
```

'''


def uses_torch(source):
    """True if the chapter's code imports torch or the library's torch modules."""
    return bool(re.search(r"^\s*(import torch|from torch\b|from statmech_dl import .*\btorch_utils\b|"
                          r"from statmech_dl\.torch_utils\b)", source, flags=re.M))


def install_cell(url, branch, torch=False):
    """The text of the install cell, as a MyST code cell."""
    options = f'"--extra-index-url", "{TORCH_INDEX}", ' if torch else ""
    return _CELL.format(tag=INSTALL_TAG, options=options, extras="widgets,torch" if torch else "widgets",
                        url=url.rstrip("/"), branch=branch)


def add_install_cell(source, url, branch):
    """Insert the install cell before the first code cell of a MyST notebook (unchanged if it has none)."""
    match = re.search(r"^```\{code-cell\}", source, flags=re.M)
    if match is None or INSTALL_TAG in source:
        return source
    return source[:match.start()] + install_cell(url, branch, uses_torch(source)) + source[match.start():]


def _is_notebook(text):
    """A MyST notebook: front matter with a kernelspec."""
    parts = text.split("---", 2)
    return text.startswith("---") and len(parts) == 3 and "kernelspec:" in parts[1]


def _source_read(app, docname, source):
    options = app.config.html_theme_options
    url, branch = options.get("repository_url"), options.get("repository_branch", "main")
    if url and _is_notebook(source[0]):
        source[0] = add_install_cell(source[0], url, branch)


def setup(app):
    app.connect("source-read", _source_read)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
