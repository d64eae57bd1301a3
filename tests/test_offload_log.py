"""While the device serves the dock, the warnings of every module on the serving thread reach its event log."""
from __future__ import annotations

import logging

from bodycam_threads import OwnedThread
from evidence.eventlog import verify
from evidence.paths import DataDir
from firmware.eventlog import EventLog
from firmware.offload import serving_warnings


def test_every_module_s_warning_on_the_serving_thread_is_logged_and_other_threads_are_not(tmp_path):
    handler = serving_warnings(EventLog(DataDir(tmp_path)))
    logging.getLogger().addHandler(handler)
    try:
        logging.getLogger("sync.device").warning("refused AUTH: key not enrolled")
        logging.getLogger("evidence.receipts").warning("a receipt file is unreadable")
        logging.getLogger("firmware.offload").info("released a video")  # not a warning
        elsewhere = OwnedThread(lambda: logging.getLogger("firmware.watch").warning("a poll failed"), "watcher")
        elsewhere.start()
        elsewhere.join(10)
    finally:
        logging.getLogger().removeHandler(handler)
    logged = [(r["type"], r["data"]["module"], r["data"]["message"]) for r in verify(DataDir(tmp_path)).records]
    assert logged == [("dock_refused", "sync.device", "refused AUTH: key not enrolled"),
                      ("offload_warning", "evidence.receipts", "a receipt file is unreadable")]
