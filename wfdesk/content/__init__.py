"""Content in, content out: drafts (Markdown, Word, HTML) become posts; posts leave as Markdown, HTML or a page bundle.

Qt-free, like the rest of the engine. Everything goes through Markdown: Word and HTML are converted to it first, and
every export renders from it.
"""
