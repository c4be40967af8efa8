"""Kept for the modules that import it from here: it moved to wfdesk.rendering.post_fields, below the scripts layer,
whose WordPress handler uses it too."""

from wfdesk.rendering.post_fields import (
    DEFAULT_IMAGE_FIELD,
    FRONT_MATTER,
    WORDPRESS_LINK,
    WORDPRESS_MEDIA,
    WORDPRESS_MODIFIED_GMT,
    WORDPRESS_POST_ID,
    WORDPRESS_SITE,
    WORDPRESS_STATUS,
    dump_front_matter,
    load_front_matter,
)

__all__ = ["DEFAULT_IMAGE_FIELD", "FRONT_MATTER", "WORDPRESS_LINK", "WORDPRESS_MEDIA", "WORDPRESS_MODIFIED_GMT",
           "WORDPRESS_POST_ID", "WORDPRESS_SITE", "WORDPRESS_STATUS", "dump_front_matter", "load_front_matter"]
