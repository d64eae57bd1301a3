#!/bin/sh
# Install the Debian packages the project needs, if they are missing (needs root).
set -e
# ffmpeg: the benchmark's reference encoder; fonts-noto-cjk: the overlay's font (Chinese names);
# tesseract-ocr: reads the overlay back in the legibility test; lrzsz: ZMODEM, the dock link's reference;
# postgresql: the shared station catalogue (its tests start a server in a temporary folder);
# chromium: the review page's end-to-end tests (headless); poppler-utils: reads the record form's PDF back;
# ceph-mon ceph-mgr ceph-osd radosgw ceph-common uuid-runtime curl: the central store's tests start a
# throw-away single-node Ceph with its S3 gateway on loopback; systemd: systemd-analyze verifies the
# station's units.
PACKAGES="ffmpeg fonts-noto-cjk tesseract-ocr lrzsz postgresql chromium poppler-utils
    ceph-mon ceph-mgr ceph-osd radosgw ceph-common uuid-runtime curl systemd"
missing=""
for package in $PACKAGES; do
    dpkg -s "$package" >/dev/null 2>&1 || missing="$missing $package"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "system-deps: please install as root:$missing" >&2
    exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
