"""Settings shared by every environment; everything that differs comes from the environment."""

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

from config.broker import FILESYSTEM_BROKER_URL, filesystem_broker_options

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env("SECRET_KEY")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework_api_key",  # its AbstractAPIKey module defines a concrete model too
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "django_fsm_log",
    "csp",
    "axes",
    "pgtrigger",
    "import_export",
    "mozilla_django_oidc",  # after auth, as it asks
    "outbox",
    "people",
    "notifications",
    "budgets",
    "approvals",
    "compensation",
    "reporting",
    "audit",
    "connectors",
    "pilots",
    "provisioning",
]

MIDDLEWARE = [
    # Outermost: every error under /api/ leaves as the API's JSON, whatever raised it.
    "common.middleware.ApiErrorsAsJsonMiddleware",
    # Authorize, on every model call, answered before the middleware only browsers need.
    "common.hot_path.HotPathMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The admin's own bounds on waiting for a lock or a statement (before anything reads).
    "common.middleware.AdminWaitsBoundedMiddleware",
    "django.middleware.common.CommonMiddleware",
    "common.middleware.RefuseNulMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into its lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "config.context_processors.nav",
                "people.oidc_views.sign_in_options",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'allot.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# A kept connection is checked before a request uses it: one the database cut (a restart, a
# terminated session) is replaced instead of failing the request.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the web process, the worker and beat share one SQLite file.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Argon2 first: new and re-saved passwords are hashed with it; older hashes still verify.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
# Passwords (Django's backend) only while ALLOT_PASSWORD_LOGIN is true; OpenID Connect's is
# inert until OIDC_RP_CLIENT_ID is set (see "Single sign-on" below).
# Sign-in attempts are rate limited by django-axes: after AXES_FAILURE_LIMIT failures for one
# username from one address, that pair is locked out for AXES_COOLOFF_TIME.
ALLOT_PASSWORD_LOGIN = env.bool("ALLOT_PASSWORD_LOGIN", default=True)
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    *(["django.contrib.auth.backends.ModelBackend"] if ALLOT_PASSWORD_LOGIN else []),
    "people.oidc.EmployeeOIDCBackend",
]
AXES_FAILURE_LIMIT = env.int("ALLOT_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("ALLOT_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# The identity provider checks the password, not us: its callback carries no username, so
# counting its refusals would lock a whole office (one address) out of single sign-on.
AXES_WHITELIST_CALLABLE = "people.oidc.axes_skips_sign_on"
# Behind the proxy in production the client address comes from X-Forwarded-For (see production).
AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# The database stores UTC; screens and reports use the company's zone.
TIME_ZONE = env("COMPANY_TIME_ZONE", default="America/New_York")
USE_I18N = True
USE_TZ = True

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

# Single sign-on with OpenID Connect (mozilla-django-oidc; the README's settings table). Off
# until a client id is set; then the sign-in page offers "Sign in with <ALLOT_OIDC_NAME>".
# People are matched by verified email to an active employee; nobody is ever created.
OIDC_RP_CLIENT_ID = env("OIDC_RP_CLIENT_ID", default="")
OIDC_RP_CLIENT_SECRET = env("OIDC_RP_CLIENT_SECRET", default="")
ALLOT_OIDC_ENABLED = bool(OIDC_RP_CLIENT_ID)
ALLOT_OIDC_NAME = env("ALLOT_OIDC_NAME", default="single sign-on")
OIDC_OP_ISSUER = env("OIDC_OP_ISSUER", default="")  # checked against each ID token's iss
OIDC_OP_AUTHORIZATION_ENDPOINT = env("OIDC_OP_AUTHORIZATION_ENDPOINT", default="")
OIDC_OP_TOKEN_ENDPOINT = env("OIDC_OP_TOKEN_ENDPOINT", default="")
OIDC_OP_USER_ENDPOINT = env("OIDC_OP_USER_ENDPOINT", default="")
OIDC_OP_JWKS_ENDPOINT = env("OIDC_OP_JWKS_ENDPOINT", default="")
OIDC_RP_SIGN_ALGO = env("OIDC_RP_SIGN_ALGO", default="RS256")
OIDC_RP_SCOPES = env("OIDC_RP_SCOPES", default="openid email profile")
OIDC_USE_PKCE = True
OIDC_CREATE_USER = False  # an unknown email is refused (people.oidc), never a new account
OIDC_TIMEOUT = env.int("OIDC_TIMEOUT_SECONDS", default=10)
OIDC_AUTHENTICATE_CLASS = "people.oidc_views.SignOnStartView"
OIDC_CALLBACK_CLASS = "people.oidc_views.SignOnCallbackView"
LOGIN_REDIRECT_URL_FAILURE = "/accounts/sign-on/refused/"
# Roles from the identity provider only where these name its group values (comma-separated, as
# in the `groups` claim): then each sign-in adds or removes HR and Finance to match. Unset: the
# roles set in the admin are left alone. Nothing from the provider makes anyone a superuser.
OIDC_GROUPS_CLAIM = env("OIDC_GROUPS_CLAIM", default="groups")
# The claim that must be true for the email to be trusted (Entra ID sends none by default; its
# optional claim xms_edov says the email's domain is verified by the tenant).
OIDC_EMAIL_VERIFIED_CLAIM = env("OIDC_EMAIL_VERIFIED_CLAIM", default="email_verified")
OIDC_GROUP_HR = env.list("OIDC_GROUP_HR", default=[])
OIDC_GROUP_FINANCE = env.list("OIDC_GROUP_FINANCE", default=[])
_OIDC_MISSING = [
    name
    for name in (
        "OIDC_RP_CLIENT_SECRET",
        "OIDC_OP_AUTHORIZATION_ENDPOINT",
        "OIDC_OP_TOKEN_ENDPOINT",
        "OIDC_OP_USER_ENDPOINT",
        "OIDC_OP_JWKS_ENDPOINT",
    )
    if not globals()[name]
]
if ALLOT_OIDC_ENABLED and _OIDC_MISSING:
    raise ImproperlyConfigured(
        f"OIDC_RP_CLIENT_ID is set but {', '.join(_OIDC_MISSING)} not "
        "(`python manage.py oidc_endpoints ISSUER` prints the endpoints)."
    )
# ALLOT_PASSWORD_LOGIN=false (production behind the identity provider): no password form on
# the sign-in page or the admin's, a password POST refused, no password reset.
if not ALLOT_PASSWORD_LOGIN and not ALLOT_OIDC_ENABLED:
    raise ImproperlyConfigured(
        "ALLOT_PASSWORD_LOGIN=false leaves no way to sign in: set OIDC_RP_CLIENT_ID and the "
        "OIDC_OP_* endpoints too."
    )

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="allot@localhost")

# Celery. The default broker needs no server (see config/broker.py).
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=FILESYSTEM_BROKER_URL)
if CELERY_BROKER_URL.startswith(FILESYSTEM_BROKER_URL):
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(
        Path(env.str("CELERY_FILESYSTEM_BROKER_DIR", default=str(VAR_DIR / "broker")))
    )
CELERY_RESULT_BACKEND = env(
    "CELERY_RESULT_BACKEND", default=f"db+sqlite:///{VAR_DIR / 'celery-results.sqlite3'}"
)
# The daily jobs' hours are the company's: expiry, escalation and the rollover are about the
# company's days, and a UTC hour is the evening before west of Greenwich.
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_TIME_LIMIT = 30 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 25 * 60
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Long jobs have a queue of their own (a worker of its own, Procfile's worker-long), so a busy
# hour of alert checks on the default queue never delays a report or a rollover.
CELERY_TASK_ROUTES = {
    "reporting.report_build": {"queue": "long"},
    "budgets.rollover_commit": {"queue": "long"},
    "budgets.alerts_scan": {"queue": "long"},
    "compensation.statements_make": {"queue": "long"},
}
# Requests queue follow-up work in the outbox (outbox/services.py); the relay sends it this often.
ALLOT_OUTBOX_RELAY_EVERY_SECONDS = env.int("ALLOT_OUTBOX_RELAY_EVERY_SECONDS", default=5)
ALLOT_OUTBOX_RELAY_ON_COMMIT = False
# A report run or rollover with no progress for this long lost its worker: it is marked
# interrupted and queued again by the sweep (every minute).
ALLOT_RUN_STALLED_AFTER_SECONDS = env.int("ALLOT_RUN_STALLED_AFTER_SECONDS", default=300)
ALLOT_RUN_MAX_RESUMES = env.int("ALLOT_RUN_MAX_RESUMES", default=5)
# Fault tests only: a report build sleeps this long after each stage, so a test can kill its
# worker mid-build (tests/reliability/test_killed_workers.py). 0, no pause, everywhere else.
ALLOT_REPORT_STAGE_PAUSE_SECONDS = env.float("ALLOT_REPORT_STAGE_PAUSE_SECONDS", default=0)
# Readiness (/healthz/ready) says "worker down" when the relay has not run for this long.
ALLOT_READY_WORKER_STALE_SECONDS = env.int("ALLOT_READY_WORKER_STALE_SECONDS", default=60)
CELERY_BEAT_SCHEDULE = {
    "outbox-relay": {
        "task": "outbox.relay",
        "schedule": ALLOT_OUTBOX_RELAY_EVERY_SECONDS,
    },
    "interrupted-runs-resume": {
        "task": "reporting.runs_resume",
        "schedule": 60,
    },
    "interrupted-rollovers-resume": {
        "task": "budgets.rollovers_resume",
        "schedule": 60,
    },
    "interrupted-statement-runs-resume": {
        "task": "compensation.statement_runs_resume",
        "schedule": 60,
    },
    "outbox-prune": {
        "task": "outbox.prune",
        "schedule": crontab(hour=3, minute=10),
    },
    "release-expired-reservations": {
        "task": "budgets.reservations_release",
        "schedule": env.int("ALLOT_RESERVATION_RELEASE_EVERY_SECONDS", default=300),
    },
    "resend-unsent-notifications": {
        "task": "notifications.notifications_resend",
        "schedule": 60 * 60,
    },
    "hourly-webhook-resend": {
        "task": "notifications.webhooks_resend",
        "schedule": 60 * 60,
    },
    "daily-notification-digest": {
        "task": "notifications.digest_send",
        "schedule": crontab(hour=7, minute=30),
    },
    "daily-approval-escalation": {
        "task": "approvals.escalate",
        "schedule": crontab(hour=7, minute=0),
    },
    "daily-approval-expiry": {
        "task": "approvals.expire",
        "schedule": crontab(hour=0, minute=30),
    },
    # A last day HR entered ahead of time: the morning after it, the leaver is closed.
    "daily-leavers-close": {
        "task": "people.leavers_close",
        "schedule": crontab(hour=0, minute=20),
    },
    "daily-offer-expiry": {
        "task": "compensation.offers_expire",
        "schedule": crontab(hour=0, minute=40),
    },
    "quarterly-report-at-quarter-start": {
        # Daily: on the first day of a fiscal quarter it builds the report of the one that ended.
        "task": "reporting.quarter_start",
        "schedule": crontab(hour=6, minute=15),
    },
    "daily-alert-scan": {
        "task": "budgets.alerts_scan",
        "schedule": crontab(hour=6, minute=0),
    },
    # Daily, so it starts on the fiscal year's first day whatever month the company picks:
    # previews the closed year, then waits for finance (or commits if the company opted in).
    "annual-rollover": {
        "task": "budgets.rollover_scheduled",
        "schedule": crontab(hour=5, minute=15),
    },
    # The providers' usage reports (connectors): hourly, each report from its cursor.
    "hourly-provider-usage-sync": {
        "task": "connectors.usage_sync_all",
        "schedule": crontab(minute=25),
    },
    # Before the rollover: money due to expire goes before a close splits what is unused.
    "daily-carryover-expiry": {
        "task": "budgets.carryover_expire",
        "schedule": crontab(hour=4, minute=45),
    },
}

# django-import-export lets any staff user import and export unless these are set: importing
# needs the model's change permission, exporting its view permission.
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "change"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "EXCEPTION_HANDLER": "common.api.allot_exception_handler",
    "DEFAULT_THROTTLE_RATES": {"api": env("ALLOT_API_RATE", default="60000/min")},
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["common.api.SafeJSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "common.api.BodyLimitNegotiation",
}
# A batch of 5,000 events with metadata is well under this; a larger API body of any content
# type is a JSON 413 naming the limit (common.api), before it is parsed.
DATA_UPLOAD_MAX_MEMORY_SIZE = 25 * 1024 * 1024
SPECTACULAR_SETTINGS = {
    "TITLE": "Allot API",
    "DESCRIPTION": "Usage ingestion, authorization and balances for annual token budgets.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Throttle counters live in the cache: set CACHE_URL (e.g. redis://127.0.0.1:6379/2) when more
# than one web process serves the API, so the limit holds across them. Production requires one
# of these (django-redis, or Django's own Redis backend).
SHARED_CACHE_BACKENDS = ("django_redis.", "django.core.cache.backends.redis.")
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

# Content Security Policy on every response (django-csp). Scripts only from our own origin (no
# inline script anywhere, the API docs included); inline style attributes are allowed because the
# bars and charts size themselves with them.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
# No page is ever shown in a frame, ours included: the CSP and the older header say the same.
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_pii": {"()": "common.logging.RedactPII"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact_pii"],
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    # django-axes announces itself at every start; its lockouts are warnings and still show.
    "loggers": {"axes": {"level": "WARNING"}},
}

# SCIM 2.0 provisioning at /scim/v2/ (django-scim2, with Allot's adapters: provisioning/).
SCIM_SERVICE_PROVIDER = {
    "NETLOC": "localhost",  # unused: locations are built from the request (base_location)
    "AUTHENTICATION_SCHEMES": [
        {
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "A token a superuser makes with `manage.py create_scim_token NAME`.",
            "primary": True,
        }
    ],
    "USER_ADAPTER": "provisioning.adapters.AllotUser",
    "GROUP_MODEL": "people.models.Team",
    "GROUP_ADAPTER": "provisioning.adapters.AllotGroup",
    "USER_FILTER_PARSER": "provisioning.filters.UserFilter",
    "GROUP_FILTER_PARSER": "provisioning.filters.GroupFilter",
    "SERVICE_PROVIDER_CONFIG_MODEL": "provisioning.views.ServiceProviderConfig",
    "BASE_LOCATION_GETTER": "provisioning.adapters.base_location",
    "AUTH_CHECK_MIDDLEWARE": "provisioning.auth.ScimTokenAuth",
    "SCHEMAS_GETTER": "provisioning.schemas.schemas",
    "WWW_AUTHENTICATE_HEADER": 'Bearer realm="allot-scim"',
}

# Where people reach the web app (links in emails).
ALLOT_BASE_URL = env("ALLOT_BASE_URL", default="http://127.0.0.1:8000")
# Slack's Web API (the company's bot token and signing secret are set in the admin).
ALLOT_SLACK_API_URL = env("ALLOT_SLACK_API_URL", default="https://slack.com/api/")
# A one-click decision link in an email works for this many days (and once).
ALLOT_DECISION_LINK_DAYS = env.int("ALLOT_DECISION_LINK_DAYS", default=7)
# A step waiting longer than this goes one level up.
ALLOT_APPROVAL_ESCALATE_AFTER_DAYS = env.int("ALLOT_APPROVAL_ESCALATE_AFTER_DAYS", default=3)
# A Finance step no remaining Finance member may decide goes to this user (else a superuser).
ALLOT_CFO_USERNAME = env.str("ALLOT_CFO_USERNAME", default="")
# An unsettled reservation from authorize is released after this long.
ALLOT_RESERVATION_TTL_SECONDS = env.int("ALLOT_RESERVATION_TTL_SECONDS", default=15 * 60)
# For this many days after carried-over money expired, usage made before its expiry date and
# reported late gives back what it should have drawn from it (spending draws carried money first).
ALLOT_CARRYOVER_LATE_USAGE_DAYS = env.int("ALLOT_CARRYOVER_LATE_USAGE_DAYS", default=3)
# How long a request waits for a budget row another transaction holds, and for one statement,
# before it answers 503 "busy, retry" (well under a gateway's own timeout). Authorize is on every
# model call; a usage batch writes thousands of rows.
ALLOT_AUTHORIZE_LOCK_TIMEOUT_MS = env.int("ALLOT_AUTHORIZE_LOCK_TIMEOUT_MS", default=2000)
ALLOT_AUTHORIZE_STATEMENT_TIMEOUT_MS = env.int("ALLOT_AUTHORIZE_STATEMENT_TIMEOUT_MS", default=2000)
ALLOT_USAGE_LOCK_TIMEOUT_MS = env.int("ALLOT_USAGE_LOCK_TIMEOUT_MS", default=10000)
ALLOT_USAGE_STATEMENT_TIMEOUT_MS = env.int("ALLOT_USAGE_STATEMENT_TIMEOUT_MS", default=10000)
# The long paths have longer bounds of their own, so a stuck lock still ends them one day: a
# report build's queries (it locks nothing; a quarter's figures take minutes on a big company),
# a rollover chunk's transaction, and an admin page (a person waiting in a browser).
ALLOT_REPORT_LOCK_TIMEOUT_MS = env.int("ALLOT_REPORT_LOCK_TIMEOUT_MS", default=60_000)
ALLOT_REPORT_STATEMENT_TIMEOUT_MS = env.int("ALLOT_REPORT_STATEMENT_TIMEOUT_MS", default=600_000)
ALLOT_ROLLOVER_LOCK_TIMEOUT_MS = env.int("ALLOT_ROLLOVER_LOCK_TIMEOUT_MS", default=60_000)
ALLOT_ROLLOVER_STATEMENT_TIMEOUT_MS = env.int(
    "ALLOT_ROLLOVER_STATEMENT_TIMEOUT_MS", default=300_000
)
ALLOT_ADMIN_LOCK_TIMEOUT_MS = env.int("ALLOT_ADMIN_LOCK_TIMEOUT_MS", default=20_000)
ALLOT_ADMIN_STATEMENT_TIMEOUT_MS = env.int("ALLOT_ADMIN_STATEMENT_TIMEOUT_MS", default=60_000)

# The calls HotPathMiddleware answers before the browsers' middleware: URL name -> a function of
# the request that answers it, or returns None to leave it to the usual stack.
ALLOT_HOT_PATHS = {"api:authorize": "budgets.apis.authorize_hot_path"}

# Demo sign-ins are made by `seed_demo` only where this is true (never in production).
# A pilot's comparison concludes nothing when either group has fewer people than this.
ALLOT_PILOT_MIN_GROUP = env.int("ALLOT_PILOT_MIN_GROUP", default=5)
ALLOT_DEMO_ENABLED = False
