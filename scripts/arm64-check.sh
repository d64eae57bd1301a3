#!/bin/sh
# make arm64-check: the device's install on arm64 proved without a Docker engine. Builds a Debian
# bookworm arm64 root with debootstrap, runs it under QEMU user emulation (Debian's
# qemu-user-static, through the kernel's binfmt_misc: a chroot then runs aarch64 programs as
# they are), installs the built wheel there from the package index's aarch64 wheels (the `pi`
# extra, else `device` with the reason printed) and runs `bodycam selftest`, a short
# low-resolution `bodycam record` (simulated parts) and `bodycam verify` in it.
#
#   sh scripts/arm64-check.sh WHEEL [ROOT]      (as root; ROOT defaults to build/arm64-root)
#   sh scripts/arm64-check.sh --report EXTRA    (what a run that installed EXTRA proves, and its status)
#
# Exit status: 0 the pi extra installed and ran; 2 only the device extra did (the pi extra is not
# installable from the package index: see report); 1 a step failed. A root left by an earlier run
# is used again (delete it for a fresh one); each step says what it does, and the time of each is
# printed at the end.
set -eu

# report EXTRA: say plainly which extra was installed and run, never "passed" for the pi extra
# unless it was; the status as above.
report() {
    if [ "$1" = pi ]; then
        echo "arm64-check: passed: bodycam[pi] installed from aarch64 wheels and run under qemu-aarch64" >&2
        return 0
    fi
    echo "arm64-check: pi extra NOT proven: not installable from the package index (PiDNG is sdist-only" \
         "for aarch64; picamera2's libcamera bindings ship with Raspberry Pi OS alone, python3-picamera2)" >&2
    echo "arm64-check: device extra installed from aarch64 wheels and run under qemu-aarch64" \
         "(selftest, record 3 s, verify): the device's code runs on arm64, its Pi camera support is unproven" >&2
    return 2
}

if [ "${1:-}" = --report ]; then
    status=0
    report "$2" || status=$?
    exit "$status"
fi

WHEEL=$(realpath "$1")
ROOT=$(realpath -m "${2:-build/arm64-root}")
STEPS=""

step() {       # step NAME COMMAND...: run it, timed
    name=$1; shift
    echo "arm64-check: $name" >&2
    started=$(date +%s)
    "$@"
    took="$name: $(( $(date +%s) - started )) s"
    echo "arm64-check: $took" >&2
    STEPS="$STEPS$took
"
}

need_tools() {
    [ "$(id -u)" = 0 ] || { echo "arm64-check: needs root (debootstrap, chroot, binfmt_misc)" >&2; exit 1; }
    missing=""
    for package in debootstrap qemu-user-static binfmt-support; do
        dpkg -s "$package" >/dev/null 2>&1 || missing="$missing $package"
    done
    if [ -n "$missing" ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
    fi
}

# The kernel must hand aarch64 programs to qemu-aarch64-static: binfmt_misc mounted and the
# handler registered with the F flag (the interpreter opened now, so it works inside the chroot).
need_binfmt() {
    handlers=/proc/sys/fs/binfmt_misc
    [ -e "$handlers/register" ] || mount -t binfmt_misc binfmt_misc "$handlers"
    [ -e "$handlers/qemu-aarch64" ] || update-binfmts --enable qemu-aarch64
    grep -q '^flags: .*F' "$handlers/qemu-aarch64" || {
        echo "arm64-check: the qemu-aarch64 binfmt handler lacks the F flag: a chroot cannot run arm64 programs" >&2
        exit 1
    }
}

make_root() {
    if [ -x "$ROOT/usr/bin/python3" ]; then
        return
    fi
    rm -rf "$ROOT"
    # fonts-noto-cjk: the overlay's Chinese font, as on the device
    debootstrap --arch=arm64 --variant=minbase --include=python3,python3-venv,ca-certificates,fonts-noto-cjk \
        bookworm "$ROOT"
}

# The root resolves names and trusts certificate authorities as the host does (a proxy's CA, say).
mount_root() {
    mountpoint -q "$ROOT/proc" || mount -t proc proc "$ROOT/proc"
    cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
    cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt"
}

unmount_root() {
    if mountpoint -q "$ROOT/proc"; then umount "$ROOT/proc"; fi
}

inside() {
    chroot "$ROOT" /usr/bin/env -i HOME=/root PATH=/opt/bodycam/bin:/usr/bin:/bin LANG=C.UTF-8 "$@"
}

install_wheel() {
    [ "$(inside uname -m)" = aarch64 ] || { echo "arm64-check: the root does not run as aarch64" >&2; exit 1; }
    rm -rf "$ROOT/opt/bodycam" "$ROOT/tmp/wheel" && mkdir -p "$ROOT/tmp/wheel"
    cp "$WHEEL" "$ROOT/tmp/wheel/"
    inside python3 -m venv /opt/bodycam
    inside pip install -q --disable-pip-version-check --upgrade pip
    wheel="/tmp/wheel/$(basename "$WHEEL")"
    if inside pip install --disable-pip-version-check --only-binary=:all: "$wheel[pi]" > "$ROOT/tmp/pi.log" 2>&1; then
        EXTRA=pi
    else
        echo "arm64-check: the pi extra does not install from aarch64 wheels alone; its error:" >&2
        grep -A1 -E "^ERROR|error:|no matching distributions" "$ROOT/tmp/pi.log" | grep -v "^--" | head -6 >&2
        inside pip install -q --disable-pip-version-check "$wheel[device]"
        EXTRA=device
    fi
    echo "arm64-check: installed bodycam[$EXTRA] on $(inside python3 -c 'import platform; print(platform.machine())')" >&2
}

run_device() {
    rm -rf "$ROOT/tmp/check" && mkdir -p "$ROOT/tmp/check"
    cat > "$ROOT/tmp/check/device.toml" <<'EOF'
[device]
serial = "BC00064"
data_dir = "/tmp/check/data"
[video]
width = 320
height = 240
fps = 10
bitrate_kbps = 300
[recording]
segment_seconds = 2
[sources]
camera = "simulated:"
microphone = "simulated:"
EOF
    # selftest: 0 all good, 1 warnings only (no GNSS fix, say): recording goes on, as in make demo
    status=0
    inside bodycam selftest --config /tmp/check/device.toml || status=$?
    [ "$status" -le 1 ] || { echo "arm64-check: bodycam selftest failed ($status)" >&2; exit 1; }
    inside bodycam record --seconds 3 --config /tmp/check/device.toml
    inside bodycam verify /tmp/check/data/spool --key /tmp/check/data/device/device.pub
}

need_tools
need_binfmt
step "debootstrap an arm64 bookworm root" make_root
trap unmount_root EXIT
mount_root
step "install the wheel" install_wheel
step "selftest, record 3 s, verify" run_device
printf '%s' "$STEPS" >&2
report "$EXTRA"
