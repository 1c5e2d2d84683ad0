# Two entry points, both usable on a fresh clone with nothing installed:
#   make book   builds the website into _build/html (warnings are errors); make pdf, the PDF
#   make test   runs the library's unit tests, executes every chapter twice
#               (nbval), builds the book and moves its explorations' sliders in
#               a headless browser (installing Debian's chromium if it may)
# Both create the virtual environment .venv from requirements.txt on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
# Kernels started by myst-nb, nbclient and nbval must run the venv's Python.
export PATH := $(BIN):$(PATH)
export VIRTUAL_ENV := $(abspath $(VENV))

.PHONY: book test unit slow benchmark lock clean browser sandbox assignments grade grades-csv pdf latex

# torch is pinned in requirements.txt; take its CPU build. pip first looks on this machine's
# disk (--no-index: find-links only, no index is contacted); on a stock machine that fails at
# once and the PyTorch CPU index supplies it. Plain PyPI would give the CUDA build, several GB.
TORCH_VERSION := $(shell sed -n 's/^torch==//p' requirements.txt)
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu

$(VENV)/.installed: requirements.txt constraints.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-index --no-deps "torch==$(TORCH_VERSION)+cpu" 2>/dev/null \
	  || $(BIN)/python -m pip install --quiet --no-deps "torch==$(TORCH_VERSION)+cpu" --index-url $(TORCH_CPU_INDEX)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

# tools/build_book.py executes the chapters on every core (jupyter-cache's parallel executor),
# then runs jupyter-book build, which takes them from the filled cache.
book: $(VENV)/.installed
	$(BIN)/python tools/build_book.py --warningiserror --nitpick --keep-going

# The whole book as one PDF, _build/latex/statmech-dl.pdf, copied beside the website, whose landing
# page links it. LaTeX (xelatex, Jupyter Book's pdflatex builder) from Debian's TeX Live, installed
# by the target latex when missing and we may (root with apt-get, as in CI). The chapters come from
# the execution cache that make book fills: the PDF does not execute them again.
pdf: $(VENV)/.installed latex
	$(BIN)/python tools/build_book.py --builder pdflatex --warningiserror --nitpick --keep-going
	@mkdir -p _build/html && cp _build/latex/statmech-dl.pdf _build/html/statmech-dl.pdf
	@echo "The PDF: _build/latex/statmech-dl.pdf (and _build/html/statmech-dl.pdf)"

LATEX_PACKAGES := latexmk texlive-xetex texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended \
  texlive-fonts-extra texlive-pictures texlive-science texlive-lang-greek tex-gyre fonts-freefont-otf xindy poppler-utils
latex:
	@{ command -v xelatex && command -v latexmk && command -v xindy && command -v pdftotext && \
	   kpsewhich bbm.sty pgfplots.sty; } >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    echo "Installing TeX Live for the PDF (a few minutes)" && apt-get update -qq >/dev/null && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(LATEX_PACKAGES) >/dev/null; } || \
	  echo "No TeX Live and no root to install it: the PDF cannot be built (apt-get install $(LATEX_PACKAGES))"

# pytest-xdist runs the tests on every core, each file's tests on one worker (the course's tests
# grade one course), except each chapter's second execution, which goes to whichever worker is
# free (tests/conftest.py). The build happens once, for the first worker that needs it
# (tests/book/book_site.py). Files go out in collection order, longest first.
test: $(VENV)/.installed browser sandbox latex
	$(BIN)/python -m pytest tests -n auto --dist loadfile --no-loadscope-reorder

# The explorations are checked in a headless browser (tests/book/test_build.py): Debian's
# chromium, installed here when missing and we may (root with apt-get, as in CI); elsewhere
# the check is skipped with a message, except in CI, where it fails. Every page is audited
# for accessibility with axe-core, the maths rendered by MathJax: both from the npm registry,
# pinned in tests/browser/package-lock.json and installed there (never loaded from a CDN).
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    echo "Installing chromium for the browser checks" && \
	    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "No chromium and no root to install it: the browser checks will be skipped (apt-get install chromium)"
	@test -f tests/browser/node_modules/.package-lock.json || \
	  { command -v npm >/dev/null 2>&1 && echo "Installing axe-core and MathJax for the browser checks (npm ci)" && \
	    npm ci --prefix tests/browser --no-audit --no-fund --silent; } || \
	  echo "No npm: the accessibility audit will be skipped (install Node.js and npm, then npm ci --prefix tests/browser)"

# Grading runs each submission in a bubblewrap sandbox (tools/sandbox.py): Debian's bubblewrap,
# installed here when missing and we may (root with apt-get, as in CI); elsewhere the grading
# tests are skipped with a message, except in CI, where they fail.
sandbox:
	@command -v bwrap >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    echo "Installing bubblewrap for the grading sandbox" && \
	    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null; } || \
	  echo "No bwrap and no root to install it: grading needs it (apt-get install bubblewrap)"

unit: $(VENV)/.installed
	$(BIN)/python -m pytest tests/unit -m "not slow"

slow: $(VENV)/.installed
	$(BIN)/python -m pytest tests/unit -m slow

# Course assignments with nbgrader (tools/course.py; the book's page "Using this book in a
# course"): the student editions of every chapter with exercises, in _build/course/release.
COURSE ?= _build/course
assignments: $(VENV)/.installed
	$(BIN)/python tools/course.py build --course $(COURSE)

# Autograde a folder of submissions, SUBMISSIONS/<student>/<chapter>.ipynb:
#   make grade SUBMISSIONS=path/to/folder
grade: $(VENV)/.installed sandbox
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=folder"; exit 2; }
	$(BIN)/python tools/course.py grade $(SUBMISSIONS) --course $(COURSE) $(if $(UNSAFE_NO_SANDBOX),--unsafe-no-sandbox) \
	  $(if $(SCHEDULER),--scheduler $(SCHEDULER)) $(if $(WORKERS),--workers $(WORKERS)) $(if $(FULL),--full)

# The gradebook as CSV (student, assignment, exercise, points, max_points, hint):
#   make grades-csv [OUTPUT=file.csv]
grades-csv: $(VENV)/.installed
	$(BIN)/python tools/course.py export --course $(COURSE) $(if $(OUTPUT),--output $(OUTPUT))

# make benchmark measures every chapter; make benchmark CHAPTERS="a b" only those (file stems),
# keeping the other rows of the table.
benchmark: $(VENV)/.installed
	$(BIN)/python tools/benchmark.py $(if $(CHAPTERS),--only $(CHAPTERS))

lock: $(VENV)/.installed
	$(BIN)/python -m pip freeze --exclude-editable | sed 's/+cpu$$//' > constraints.new
	@echo "Review constraints.new and move it over constraints.txt (keep the header comment)."

clean:
	rm -rf _build
