"""Configuration: defaults in code, overridden by instance/config.py, then PORTAL_* variables."""

import json
import os

DEV_SECRET_KEY = "dev-only-secret-key-change-me"  # refused in production  # nosec B105


class DefaultConfig:
    """Defaults for every setting; each can be overridden (see README, Configuration)."""

    ENV = "production"  # development | production | testing
    SECRET_KEY = DEV_SECRET_KEY
    DATABASE_URL = None  # None: SQLite file in the instance folder
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}

    # Sessions and cookies
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SECURE = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = None
    PASSWORD_HASH_METHOD = "scrypt"  # werkzeug's default; tests use a cheap pbkdf2 for speed  # nosec B105

    # Rate limits (Flask-Limiter); use redis://127.0.0.1:6379 in production
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_HEADERS_ENABLED = True
    LOGIN_RATE_LIMIT = "10 per minute"
    # Behind a reverse proxy: how many proxies to trust for X-Forwarded-For/-Proto/-Host
    # (0: none, the socket's peer is the client; rate limits and audit use that address).
    PROXY_FIX = 0
    API_RATE_LIMIT = "120 per minute"

    # Mail: without MAIL_SERVER, messages go to the outbox table only
    MAIL_SERVER = None
    MAIL_PORT = 25
    MAIL_USE_TLS = False
    MAIL_USERNAME = None
    MAIL_PASSWORD = None
    MAIL_SENDER = "Initiative Portal <no-reply@initiatives.local>"
    PASSWORD_RESET_MAX_AGE = 3600

    # Uploads
    MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
    MAX_CONTENT_LENGTH = 11 * 1024 * 1024  # derived at start-up: MAX_ATTACHMENT_BYTES + 1 MB for the form
    MAX_CONTENT_LENGTH_FIXED = False  # True keeps MAX_CONTENT_LENGTH as set instead of deriving it

    # Interface
    LANGUAGES = ["en", "vi"]
    BABEL_DEFAULT_LOCALE = "en"
    BABEL_DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"
    BOOTSTRAP_SERVE_LOCAL = True
    ITEMS_PER_PAGE = 20

    # Matching and search
    # "minilm-e5": all-MiniLM-L6-v2 and multilingual-e5-small fused, both shipped in packages
    # (measured best, docs/matching.md); also "all-MiniLM-L6-v2", "multilingual-e5-small", any
    # sentence-transformers name or path, or "fake" for fast tests.
    EMBEDDING_MODEL = "minilm-e5"
    EMBEDDING_WARM_UP = False
    # Add the English of Vietnamese terms to embedded texts (search/glossary.py); None: only for
    # the English-only MiniLM, which gains from it (docs/matching.md).
    EMBEDDING_BRIDGE = None
    EMBED_ON_SAVE = True
    AFFINITY_METHOD = "topk_mean"
    AFFINITY_TOP_K = 2
    # Cosine floors; None: the floor measured for the model (search/embeddings.py FLOORS).
    DUPLICATE_THRESHOLD = None  # two initiatives in the same language
    DUPLICATE_THRESHOLD_ACROSS = None  # one in Vietnamese, one in English (a translation)
    DEMAND_MATCH_THRESHOLD = None
    EXPERT_MIN_AFFINITY = None  # experts below it are not suggested ("no good match yet")
    HYBRID_ANY_WORD_BELOW = 0  # hybrid also fuses an any-word ranking when all words find fewer (0: never)
    SEMANTIC_MIN_SCORE = None  # semantic and hybrid search leave out weaker matches (None: the model's floor)
    SEMANTIC_MIN_MARGIN = None  # ... and those not this far above the query's mean cosine (None: the model's)
    QUERY_ENCODING_THREADS = 1  # torch threads of a process encoding search queries (0: torch's default)
    SEARCH_COUNT_LIMIT = 1000  # totals and facet counts exact up to this many matches, "1,000+" beyond
    SEARCH_INDEX_PATH = None  # None: <instance>/index
    SEARCH_INDEX_IN_MEMORY = False

    # Backups: the folder holding pg_dump and pg_restore of the server's version (None: from PATH)
    PG_BIN_DIR = None


def _coerce(value: str):
    """Turn an environment string into a bool, int, float or JSON value where it reads as one."""
    lowered = value.strip().lower()
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    try:
        return json.loads(value)
    except ValueError:
        return value


def from_environment(prefix: str = "PORTAL_") -> dict:
    """Settings named PORTAL_<NAME> in the environment, with the prefix removed and values coerced."""
    settings = {}
    for name, value in os.environ.items():
        if name.startswith(prefix) and name != prefix + "INSTANCE_PATH":
            key = name[len(prefix):]
            # Strings that are plain words stay strings: only coerce what looks typed.
            settings[key] = value if key in ("SECRET_KEY", "DATABASE_URL", "MAIL_PASSWORD") else _coerce(value)
    return settings
