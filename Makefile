# Set-up and everyday commands. `make run` and `make test` each do all the set-up they need.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run index test test-fast bench eval browser ocr clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	# The CPU build of torch first (an unpinned torch pulls a multi-GB CUDA build).
	$(BIN)/pip install --quiet -c constraints.txt torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e ".[measure,test,milvus,ray]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python app.py

index: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m qa index

browser:
	@bash scripts/ensure-chromium

# Scanned PDF pages are read by Tesseract (Debian's packages); without it they are skipped with a warning.
ocr:
	@bash scripts/ensure-tesseract

# axe-core, injected into the page by the browser tests' accessibility checks (from the npm registry).
node_modules/axe-core/axe.min.js: package.json
	npm install --no-audit --no-fund --silent

test: $(STAMP) browser ocr node_modules/axe-core/axe.min.js
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

# No model, no browser, nothing marked slow: the pure stages and both stores, in about a minute and a half.
test-fast: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m "not model and not browser and not slow"

eval: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m qa eval --mode all

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m qa bench

clean:
	rm -rf index/CURRENT index/builds index/cache index/pages artifacts node_modules
