"""Install the body-worn recorder as one distribution with one console script."""
from setuptools import setup

from firmware.version import __version__

setup(
    name="bodycam",
    version=__version__,
    description="Software of a law-enforcement body-worn recorder: capture, sealing, dock link",
    python_requires=">=3.11",
    packages=["firmware", "capture", "overlay", "sync", "hw"],
    package_data={"firmware": ["default.toml"]},
    install_requires=[
        "opencv-python-headless>=4.8",
        "av>=14",
        "numpy>=1.26",
        "cryptography>=42",
        "pyserial>=3.5",
        "cobs>=1.2",
        "crc32c>=2.4",
        "gpiozero>=2.0",
        "smbus2>=0.4",
        "pynmea2>=1.19",
        "Pillow>=10",
    ],
    extras_require={
        "pi": ["picamera2>=0.3.17", "lgpio>=0.2"],
        "test": ["pytest>=8", "hypothesis>=6"],
    },
    entry_points={"console_scripts": ["bodycam = firmware.cli:main"]},
)
