"""Kept for the modules that import it from here: it moved to wfdesk.providers.wordpress_auth, below the scripts
layer, whose WordPress handler uses it too."""

from wfdesk.providers.wordpress_auth import PASSWORD_ENV, credential_name, get_app_password, set_app_password

__all__ = ["PASSWORD_ENV", "credential_name", "get_app_password", "set_app_password"]
