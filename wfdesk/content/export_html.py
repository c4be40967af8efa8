"""A post as HTML: the sections rendered from Markdown (markdown-it-py), in a page with readable typography."""

from __future__ import annotations

import base64
import html

from wfdesk.rendering.html import sections_html
from wfdesk.rendering.post_read import ExportImage, ExportPost

STYLE = """
body { margin: 0; background: #fdfdfc; color: #1f2328; }
article { max-width: 42rem; margin: 3rem auto; padding: 0 1.25rem;
  font: 1.125rem/1.65 Charter, "Bitstream Charter", Georgia, Cambria, serif; }
h1, h2, h3 { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; line-height: 1.25; }
h1 { font-size: 2.2rem; margin-bottom: 2rem; }
h2 { font-size: 1.5rem; margin-top: 2.5rem; }
img { max-width: 100%; height: auto; }
figure { margin: 1.5rem 0; }
pre { background: #f4f4f2; padding: 0.9rem 1rem; overflow-x: auto; font-size: 0.9rem; border-radius: 4px; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 0.92em; }
blockquote { margin: 1.5rem 0; padding-left: 1rem; border-left: 3px solid #d0d7de; color: #57606a; }
table { border-collapse: collapse; margin: 1.5rem 0; }
th, td { border: 1px solid #d0d7de; padding: 0.35rem 0.7rem; text-align: left; }
a { color: #0a58ca; }
""".strip()


def render_page(post: ExportPost, self_contained: bool = True) -> str:
    """One HTML page; self-contained pages carry their images inline as data: URIs."""
    src_of = _data_uri if self_contained else (lambda image: image.name)
    metas = "".join(f'<meta name="{html.escape(str(k))}" content="{html.escape(_flat(v))}">\n'
                    for k, v in post.kept.items() if _flat(v))
    return (f'<!doctype html>\n<html lang="{html.escape(str(post.kept.get("lang") or "en"))}">\n<head>\n'
            f'<meta charset="utf-8">\n<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{html.escape(post.title)}</title>\n{metas}<style>\n{STYLE}\n</style>\n</head>\n<body>\n"
            f"<article>\n<h1>{html.escape(post.title)}</h1>\n{sections_html(post, src_of)}</article>\n"
            f"</body>\n</html>\n")


def _data_uri(image: ExportImage) -> str:
    return f"data:{image.mime};base64,{base64.b64encode(image.path.read_bytes()).decode('ascii')}"


def _flat(value: object) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict) or value is None:
        return ""
    return str(value)
