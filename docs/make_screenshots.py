"""Builds a demo workspace, runs the polish and illustration steps against a loopback provider, opens the window.

Run from any checkout, on a real X screen (Xvfb works):

    Xvfb :57 -screen 0 1440x900x24 &
    DISPLAY=:57 QT_QPA_PLATFORM=xcb .venv/bin/python docs/make_screenshots.py main docs/main-window.png
    DISPLAY=:57 QT_QPA_PLATFORM=xcb .venv/bin/python docs/make_screenshots.py image docs/image-review.png

The window fills the screen; with an output path the window saves itself there and quits, without one it stays
open 20 s (for `import -window root`). The workspace goes to $WFDESK_SCREENSHOT_DIR (default: a new temp dir).
"""
import base64, io, json, os, re, sys, tempfile, random
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests")); sys.path.insert(0, str(ROOT))
WORK = Path(os.environ.get("WFDESK_SCREENSHOT_DIR") or tempfile.mkdtemp(prefix="wfdesk-readme-"))
os.environ["WFDESK_CONFIG_DIR"] = str(WORK / "cfg")
os.environ["XDG_CONFIG_HOME"] = str(WORK / "xdg")  # window geometry (QSettings) from an earlier run stays out
os.environ["WFDESK_RUNS_IN_PROCESS"] = "1"
from PIL import Image, ImageDraw
from loopback import LoopbackServer
from wfdesk.settings import ProviderProfile, Settings
from wfdesk.workspace import open_workspace, set_current

which = sys.argv[1]
out = Path(sys.argv[2]).resolve() if len(sys.argv) > 2 else None
server = LoopbackServer().start()

def polish(body):
    text = body["messages"][-1]["content"].split("\n\n")[-1]
    for a, b in [("the the", "the"), ("beautifull", "beautiful"), ("were worth", "was worth"), ("maybe ", "")]:
        text = text.replace(a, b)
    text = re.sub(r"\binverness\b", "Inverness", text)
    text = re.sub(r"\bglen affric\b", "Glen Affric", text, flags=re.I)
    text = re.sub(r"\bskye\b", "Skye", text)
    text = text[0].upper() + text[1:]
    return text + " We would go back tomorrow."

def picture(prompt, seed):
    rnd = random.Random(hash(prompt) % 1000 + seed)
    img = Image.new("RGB", (768, 512), (rnd.randint(60, 140), rnd.randint(110, 190), rnd.randint(170, 235)))
    d = ImageDraw.Draw(img)
    sun = (rnd.randint(450, 700), rnd.randint(40, 140))
    d.ellipse([sun[0] - 40, sun[1] - 40, sun[0] + 40, sun[1] + 40], fill=(255, 214, 110))
    for layer in range(3):
        base = 300 + layer * 70
        pts = [(0, 512)] + [(x, base - rnd.randint(0, 160 - layer * 40)) for x in range(0, 800, 110)] + [(768, 512)]
        shade = (30 + layer * 25, 80 + layer * 30 + rnd.randint(0, 30), 45 + layer * 15)
        d.polygon(pts, fill=shade)
    buf = io.BytesIO(); img.save(buf, "PNG"); return buf.getvalue()

def images(i, req):
    if req.path.endswith("/images/generations"):
        n = int(req.json.get("n") or 1)
        data = [{"b64_json": base64.b64encode(picture(req.json["prompt"], k + i)).decode(),
                 "revised_prompt": req.json["prompt"] + ", golden hour, wide angle"} for k in range(n)]
        return 200, {"Content-Type": "application/json"}, json.dumps({"created": 0, "data": data}).encode()
    return None

server.chat_reply = polish
server.fail = images
root = WORK / "ws"
fresh = not root.exists()
settings = Settings(custom_script_base_url=server.root_url,
                    providers={"default": ProviderProfile(name="default", base_url=server.base_url, max_retries=0)})
ws = open_workspace(database_url=f"sqlite:///{root}/t.db", data_dir=root / "data", settings=settings)
set_current(ws)
if fresh:
    from wfdesk.services.transfer import import_bundle
    from wfdesk.db import content
    from wfdesk.scripts.registry import execute_step_script
    from wfdesk.runs.engine import bind
    bind()  # the engine execute_step_script runs (every process that runs steps binds it)
    with ws.db.session() as s:
        bundle = Path(__file__).resolve().parent.parent / "wfdesk" / "resources" / "reference-steps.json"
        import_bundle(s, json.loads(bundle.read_text()))
        from wfdesk.db.models import Post
        s.add(Post(id=54, title="Lisbon by tram", status="review"))
        s.add(Post(id=55, title="Ten days in Norway: fjords, ferries and rain", status="draft"))
    execute_step_script(1, 53, {"section_ids": [711, 712, 713]})
    r = execute_step_script(2, 53, {"section_ids": [711, 712, 713], "parameters": {"n": 2}})
    with ws.db.session() as s:
        content.accept_version(s, r["results"][0]["images"][1]["version_id"])
    execute_step_script(2, 53, {"section_ids": [711]})
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([])
from wfdesk.ui.main_window import MainWindow
w = MainWindow(ws)
area = app.primaryScreen().availableGeometry()
w.resize(area.width(), area.height()); w.move(area.topLeft()); w.show()
step = 1 if which == "main" else 2
def pick():
    w.posts.select_post(53)
    QTimer.singleShot(700, lambda: w.steps.select_step(step))
QTimer.singleShot(700, pick)
if out is not None:
    def save():
        w.grab().save(str(out))
        app.quit()
    QTimer.singleShot(6000, save)
QTimer.singleShot(20000, app.quit)
app.exec()
server.stop()
