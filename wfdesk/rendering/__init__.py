"""A post rendered, below the scripts layer so that publishing handlers use it as the exporters do: read as exports
see it (each section's body and accepted image), its Markdown as HTML, the post-level field names it keeps.

wfdesk.content (the exporters) and wfdesk.scripts.wordpress_publish (publishing) both render through here.
"""
