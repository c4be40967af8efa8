# Run with: ../shared/tools/screenshot out.png 12 -- .venv/bin/python docs/make_screenshots.py main|image
"""Builds a demo workspace, runs the polish and illustration steps against a loopback provider, opens the window."""
import base64, io, json, os, re, sys, time, random
sys.path.insert(0, "/work/main/tests"); sys.path.insert(0, "/work/main")
os.environ["WFDESK_CONFIG_DIR"] = "/tmp/readme/cfg"
os.environ["WFDESK_RUNS_IN_PROCESS"] = "1"
from pathlib import Path
from PIL import Image, ImageDraw
from loopback import LoopbackServer
from wfdesk.settings import ProviderProfile, Settings
from wfdesk.workspace import open_workspace, set_current

which = sys.argv[1]
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
root = Path("/tmp/readme/ws")
fresh = not root.exists()
settings = Settings(custom_script_base_url=server.root_url,
                    providers={"default": ProviderProfile(name="default", base_url=server.base_url, max_retries=0)})
ws = open_workspace(database_url=f"sqlite:///{root}/t.db", data_dir=root / "data", settings=settings)
set_current(ws)
if fresh:
    from wfdesk.db.transfer import import_bundle
    from wfdesk.db import content
    from wfdesk.scripts.registry import execute_step_script
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
w.resize(1280, 800); w.move(0, 0); w.show()
step = 1 if which == "main" else 2
def pick():
    w.posts.select_post(53)
    QTimer.singleShot(700, lambda: w.steps.select_step(step))
QTimer.singleShot(700, pick)
QTimer.singleShot(20000, app.quit)
app.exec()
server.stop()
