"""Finding secrets in a config wherever they are: a key that names one (`api_key`, `x-api-key`, `access_token`,
`client_secret`, ...) at any depth, inside lists too, or a value shaped like a known kind of key (`sk-...`, `ghp_...`,
`AKIA...`, a JWT or a "Bearer ..." header). API keys belong in the OS keyring or the environment, never in a config
that lands in the database or in a file shared with another team.

Hand-written: detect-secrets (the library for this) scans source lines; given bare values its entropy plugins flag
ordinary words ("hello world") and its key-format plugins miss OpenAI project keys.
"""

from __future__ import annotations

import re
from typing import Any

from wfdesk.errors import Problem

MESSAGE = ("secrets are not allowed in step configs; store API keys in Settings (OS keyring) or the environment")

# Keys are compared normalised: camelCase split, lower case, '-', ' ' and '.' read as '_' (X-Api-Key -> x_api_key).
_SECRET_KEY = re.compile(
    r"(^|_)(api_?key|apikey|secret|client_secret|secret_key|password|passwd|pwd|passphrase|authorization|bearer|"
    r"credentials?|private_?key|cookie|subscription_?key|access_key|signing_key|encryption_key|hmac_key|master_key|"
    r"functions_key)($|_|\d)"
    r"|(^|_)(access|refresh|auth|api|bearer|session|id|oauth|security|csrf|xsrf)?_?token$"
    r"|^(access|refresh|auth|api|bearer|session|oauth)_?token_")
_SECRET_VALUE = re.compile(
    r"^\s*(?:Bearer\s+\S{16,}"  # an Authorization header value
    r"|sk-(?:proj-|ant-|live-|test-)?[A-Za-z0-9_\-]{20,}"  # OpenAI, Anthropic, Stripe-style keys
    r"|(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}"  # GitHub
    r"|glpat-[A-Za-z0-9_\-]{20,}|hf_[A-Za-z0-9]{30,}|xox[abprs]-[A-Za-z0-9\-]{20,}"  # GitLab, Hugging Face, Slack
    r"|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_\-]{35}"  # AWS access key id, Google API key
    r"|eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{8,})\s*$")  # a JWT
MAX_NODES = 1_000_000  # a config is small; the walk is iterative, so depth never matters


def is_secret_key(key: str) -> bool:
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key.strip())  # clientSecret -> client_Secret
    return bool(_SECRET_KEY.search(re.sub(r"[-. ]", "_", words).lower()))


def looks_like_secret(value: str) -> bool:
    return len(value) < 2000 and bool(_SECRET_VALUE.match(value))


def find_secrets(config: Any, prefix: str = "") -> list[Problem]:
    """A problem per secret found, named by its path (`a.b.0.c`); the secret itself is never repeated."""
    out: list[Problem] = []
    stack: list[tuple[str, Any]] = [(prefix.rstrip("."), config)]
    seen = 0
    while stack and seen < MAX_NODES:
        path, node = stack.pop()
        seen += 1
        if isinstance(node, dict):
            items = []
            for k, v in node.items():
                if isinstance(k, str) and looks_like_secret(k):  # the key itself is one: named, never repeated
                    out.append(Problem(path, f"{MESSAGE} (a key here is itself a secret)"))
                    continue
                items.append((str(k), v, isinstance(k, str) and is_secret_key(k)))
        elif isinstance(node, list):
            items = [(str(i), v, False) for i, v in enumerate(node)]
        else:
            if isinstance(node, str) and looks_like_secret(node):
                out.append(Problem(path, MESSAGE))
            continue
        for key, value, secret_key in reversed(items):
            child = f"{path}.{key}" if path else key
            if secret_key and value not in (None, "", {}, []):
                out.append(Problem(child, MESSAGE))
            else:
                stack.append((child, value))
    if stack:  # not looked at, so not known to be free of secrets
        out.append(Problem(prefix.rstrip("."), f"is too large to check for secrets (more than {MAX_NODES:,} values)"))
    out.sort(key=lambda p: p.field)
    return out
