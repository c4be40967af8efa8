"""Names of the post-level fields (ContentField rows with section_id NULL) this package keeps on a post."""

from __future__ import annotations

from typing import Any

FRONT_MATTER = "front_matter"  # YAML of the draft's front matter keys other than title and status
WORDPRESS_POST_ID = "wordpress_post_id"
WORDPRESS_MODIFIED_GMT = "wordpress_modified_gmt"  # the remote post's modified_gmt after our last publish
WORDPRESS_LINK = "wordpress_link"
WORDPRESS_STATUS = "wordpress_status"
WORDPRESS_MEDIA = "wordpress_media"  # JSON {sha256: media id}: an image is uploaded once per site
WORDPRESS_SITE = "wordpress_site"  # the site the remote id belongs to
DEFAULT_IMAGE_FIELD = "image"


def load_front_matter(text: str | None) -> dict[str, Any]:
    """The kept keys, in their order; an unreadable value (edited by hand) is ignored rather than fatal."""
    import yaml

    if not text:
        return {}
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return {}
    return value if isinstance(value, dict) else {}


def dump_front_matter(keys: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(keys, sort_keys=False, allow_unicode=True, default_flow_style=False).strip()
