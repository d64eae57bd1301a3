"""The device: its configuration, command line, service and recorder.

The recorder does no linear algebra, so NumPy's OpenBLAS need not start a thread per core at
import, each spinning for its first tenth of a second of CPU at every start of the device. The
variable must be set before NumPy is first imported; one that is already set is kept.
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
