"""The Qt binding must survive what every BackgroundOp does: emitting None and booleans across threads.

PySide6 6.12.0 on Python 3.11 drops a reference to None/True/False on each such emit, and the interpreter aborts
("deallocating None") at a random later moment; pyproject.toml keeps it out. Run in a subprocess so that a broken
binding fails this test instead of killing the test session.
"""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal
app = QCoreApplication([])
class S(QObject):
    sig = Signal(object)
s = S()
got = []
s.sig.connect(got.append)
class T(QThread):
    def run(self):
        for i in range(3000):
            s.sig.emit((None, True, False)[i % 3])
before = (sys.getrefcount(None), sys.getrefcount(True))
t = T(); t.start(); t.wait()
for _ in range(100):
    app.processEvents()
del got[:]
after = (sys.getrefcount(None), sys.getrefcount(True))
print(before[0] - after[0], before[1] - after[1])
"""


def test_cross_thread_signals_keep_singletons_alive():
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lost_none, lost_true = map(int, proc.stdout.split())
    assert lost_none < 50, (lost_none, lost_true)
    assert lost_true < 50, (lost_none, lost_true)  # a broken binding loses ~1000 each
