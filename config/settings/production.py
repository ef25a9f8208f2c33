"""Production: every secret and address comes from the environment, with no default."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import SHARED_CACHE_BACKENDS, env

DEBUG = False
SECRET_KEY = env("SECRET_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
DATABASES = {"default": env.db("DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
CELERY_BROKER_URL = env("CELERY_BROKER_URL")
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=CELERY_BROKER_URL)
EMAIL_CONFIG = env.email_url("EMAIL_URL")
vars().update(EMAIL_CONFIG)
# Throttle counters must be shared by every web process on every machine: a cache in each
# process's memory would let each one allow the whole rate.
CACHES = {"default": env.cache("CACHE_URL")}
if not CACHES["default"]["BACKEND"].startswith(SHARED_CACHE_BACKENDS):
    raise ImproperlyConfigured(
        f"CACHE_URL must name a shared cache (redis://...), not {CACHES['default']['BACKEND']}: "
        "API rate limits are counted there across processes."
    )
if CACHES["default"]["BACKEND"].startswith("django_redis."):
    # A cache that is down must not take the API down with it: reads miss and counts are skipped
    # (and logged) until it answers again. A request makes up to six cache calls (throttle,
    # company settings and API key, read and write): a quarter second each bounds a silent Redis
    # to 1.5 s. A key revoked while Redis is unreachable cannot be cleared from it: reads miss
    # meanwhile (the database answers), and an entry Redis kept lives at most KEY_CACHE_SECONDS.
    CACHES["default"].setdefault("OPTIONS", {}).update(
        {"SOCKET_CONNECT_TIMEOUT": 0.25, "SOCKET_TIMEOUT": 0.25}
    )
    DJANGO_REDIS_IGNORE_EXCEPTIONS = True
    DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
ALLOT_DEMO_ENABLED = False

# Behind the TLS proxy the client's address is in X-Forwarded-For; the sign-in lockout counts
# failures per username and that address, so it must read the hop the proxy appended.
AXES_IPWARE_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=1)
AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]
