# 聚通 jutong. `make demo` runs the platform on the embedded SQLite default; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
VENDOR := src/jutong/web/static/vendor
ASSETS := $(VENDOR)/htmx.min.js $(VENDOR)/echarts.min.js

.PHONY: install assets demo test test-fast lint chromium clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "需要 Python 3.11 或更高版本"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(INSTALLED) assets

# Third-party front-end files come from the npm registry at build time and are served locally (no CDN).
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

$(ASSETS): node_modules/.package-lock.json
	mkdir -p $(VENDOR)
	cp node_modules/htmx.org/dist/htmx.min.js node_modules/echarts/dist/echarts.min.js $(VENDOR)/

assets: $(ASSETS)

demo: install
	$(BIN)/jutong demo

# Page tests drive Debian's chromium (with a CJK font, or Chinese renders as boxes in screenshots);
# install them from the system packages when missing.
chromium:
	@{ command -v chromium >/dev/null 2>&1 && fc-list :lang=zh 2>/dev/null | grep -q .; } || { \
	  echo "安装 chromium 与中文字体（页面测试需要）"; \
	  (apt-get update -qq && apt-get install -y -qq chromium fonts-noto-cjk) >/dev/null 2>&1 || \
	  echo "未能安装 chromium：页面测试在 CI 中会失败，在本机会被跳过"; }

test: install chromium
	$(BIN)/pytest -n 2 --dist loadgroup

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) node_modules $(VENDOR) var
