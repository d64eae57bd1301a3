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

# The demo's station (demo-station.toml: its archive and agency key) and its users' password.
STATION := $(BIN)/bodycam-station --config demo-station.toml
demo: export BODYCAM_PASSWORD = demo password
demo: export BODYCAM_NEW_PASSWORD = demo password
demo: $(STAMP) system-deps
	rm -rf demo-data demo-archive demo-station
	$(BIN)/bodycam selftest --config demo.toml; test $$? -le 1    # 1: warnings only, recording goes on
	$(STATION) agency-key demo-station/agency.key                 # the agency's key pair: the station keeps the private half
	$(STATION) init                                               # the dock's key
	$(BIN)/bodycam enroll --config demo.toml --dock-key demo-archive/dock/dock.pub --agency-key demo-station/agency.pub
	$(BIN)/bodycam record --seconds 12 --config demo.toml         # [encryption] required: Common Encryption
	$(BIN)/bodycam inspect --data-dir demo-data
	$(BIN)/bodycam verify demo-data/spool --key demo-data/device/device.pub    # the seals hold, without any key
	@ffmpeg -nostdin -v error -xerror -i demo-data/spool/*/seg-000002.mp4 -f null - 2>demo-data/ffmpeg.log \
	  && { echo "ffmpeg decoded an encrypted segment without its key"; exit 1; } \
	  || echo "ffmpeg, without the key: $$(head -1 demo-data/ffmpeg.log)"
	$(BIN)/python scripts/dock_demo.py --data-dir demo-data --archive demo-archive
	$(STATION) verify demo-archive --key demo-data/device/device.pub
	$(STATION) search --officer 012345    # the catalogue, filled as it docked
	$(STATION) pending                    # stops waiting for the officer's write-up
	$(BIN)/bodycam verify demo-data/spool --key demo-data/device/device.pub    # videos released, chain intact
	$(STATION) user add admin --role administrator --full-name 管理员        # users, then an export with the agency key
	$(STATION) user add li --role reviewer --full-name 李明 --user admin
	$(STATION) user add wang --role supervisor --full-name 王强 --user admin
	$(STATION) export request --session $$(basename demo-data/spool/*) --reason 移送法院 --recipient li --for 某区人民法院 --user li
	$(STATION) export approve 1 --user wang
	$(STATION) export make 1 --out demo-station --user li    # the encrypted originals, the content key, clear copies
	$(BIN)/bodycam snapshot demo-station/export-000001/clear/*/seg-000002.mp4 --at 1.5 --out demo-station/overlay.png

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
	rm -rf $(VENV) demo-data demo-archive demo-station *.egg-info
