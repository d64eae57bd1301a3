"""One distribution, two console scripts: ``bodycam`` on the device, ``bodycam-station`` on the dock PC.

The core (the evidence format and the dock link) needs only ``cryptography`` and the link's
libraries. The device adds its media and GPIO libraries (``[device]``, and ``[pi]`` on a
Raspberry Pi); the station installs without them (``[station]``).
"""
from setuptools import find_packages, setup

from firmware.version import __version__

DEVICE = [
    "opencv-python-headless>=4.8",
    "av>=14",
    "numpy>=1.26",
    "gpiozero>=2.0",
    "smbus2>=0.4",
    "pynmea2>=1.19",
    "Pillow>=10",
    "shtab>=1.7",
]
TOP_PACKAGES = ("evidence", "firmware", "capture", "overlay", "sync", "hw", "station")
STATION = ["sqlalchemy>=2.0", "psycopg[binary]>=3.1", "fpdf2>=2.8", "c2pa-python>=0.38", "fastapi>=0.115",
           "jinja2>=3.1", "uvicorn>=0.30", "python-multipart>=0.0.9",
           "argon2-cffi>=23.1", "boto3>=1.34", "shtab>=1.7", "tzdata>=2024.1"]

setup(
    name="bodycam",
    version=__version__,
    description="Software of a law-enforcement body-worn recorder and its dock station",
    python_requires=">=3.11",
    packages=find_packages(include=[name for top in TOP_PACKAGES for name in (top, f"{top}.*")]),
    py_modules=["bodycam_errors", "bodycam_threads"],
    package_data={"firmware": ["default.toml", "locale/*/LC_MESSAGES/*.po", "locale/*/LC_MESSAGES/*.mo"],
                  "station.web": ["templates/*", "static/*"],
                  "station.words": ["locale/*/LC_MESSAGES/*.po", "locale/*/LC_MESSAGES/*.mo"],
                  "station": ["systemd/*"]},                  # the units and udev rule: bodycam-station units
    install_requires=[
        "cryptography>=47",      # 47: HPKE (RFC 9180) for session content keys
        "pyserial>=3.5",
        "cobs>=1.2",
        "crc32c>=2.4",
    ],
    extras_require={
        "device": DEVICE,
        "pi": DEVICE + ["picamera2>=0.3.17", "lgpio>=0.2"],
        "station": STATION,
        "test": DEVICE + STATION + ["pytest>=8", "hypothesis>=6", "playwright>=1.45", "babel>=2.14"],
    },
    entry_points={"console_scripts": ["bodycam = firmware.cli:main", "bodycam-station = station.cli:main"]},
)
