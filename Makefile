# Two commands on a fresh machine: `make demo` and `make test`. Each sets itself up.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat setup.py | cksum | cut -d' ' -f1)

.PHONY: demo test bench system-deps messages clean arm64-check

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $@

# Debian packages (scripts/system-deps.sh): ffmpeg, the overlay's Chinese font, tesseract for its test.
system-deps:
	sh scripts/system-deps.sh

demo: $(STAMP) system-deps
	rm -rf demo-data demo-archive
	$(BIN)/bodycam selftest --config demo.toml; test $$? -le 1    # 1: warnings only, recording goes on
	$(BIN)/bodycam record --seconds 12 --config demo.toml
	$(BIN)/bodycam inspect --data-dir demo-data
	$(BIN)/bodycam snapshot demo-data/spool/*/seg-000002.mp4 --at 1.5 --out demo-data/overlay.png
	$(BIN)/bodycam verify demo-data/spool --key demo-data/device/device.pub
	$(BIN)/python scripts/dock_demo.py --data-dir demo-data --archive demo-archive
	$(BIN)/bodycam-station verify demo-archive --key demo-data/device/device.pub
	$(BIN)/bodycam-station search --archive demo-archive --officer 012345    # the catalogue, filled as it docked
	$(BIN)/bodycam-station pending --archive demo-archive                    # stops waiting for the officer's write-up
	$(BIN)/bodycam verify demo-data/spool --key demo-data/device/device.pub    # videos released, chain intact

# The command line's Chinese: new msgids into the .po, then the .mo the wheel ships (scripts/messages.py).
messages: $(STAMP)
	$(BIN)/python scripts/messages.py

test: $(STAMP) system-deps
	$(BIN)/python -m pytest -q tests

bench: $(STAMP) system-deps
	$(BIN)/python bench/bench_record.py
	$(BIN)/python bench/bench_sealing.py
	$(BIN)/python bench/bench_overlay.py
	$(BIN)/python bench/bench_selftest.py
	$(BIN)/python bench/bench_service.py
	$(BIN)/python bench/bench_link.py
	$(BIN)/python bench/bench_dock.py
	$(BIN)/python bench/bench_catalogue.py
	$(BIN)/python bench/bench_web.py

# The device's install on arm64 without a Docker engine: an arm64 bookworm root under QEMU (as root;
# minutes, see docs/PERFORMANCE.md): the built wheel installed there, then selftest, record, verify.
arm64-check: $(STAMP)
	rm -rf build/wheel && $(BIN)/pip wheel --quiet --disable-pip-version-check --no-deps -w build/wheel .
	sh scripts/arm64-check.sh build/wheel/bodycam-*.whl

clean:
	rm -rf $(VENV) demo-data demo-archive *.egg-info
