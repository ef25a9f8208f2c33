"""A logging filter that keeps personal data out of every log line.

Allot's own log lines name records by id, never by email or salary; this filter is the second
line of defence for lines written by libraries (Django's request logging, Celery's task
arguments): email addresses are masked, and any `field=value` pair whose field names money
about a person (salary, base, bonus, compensation) loses its value.
"""

import logging
import re

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
PAY = re.compile(
    r"(?P<field>\b\w*(?:salary|bonus|compensation|base_pay)\w*\b)(?P<sep>['\"]?\s*[:=]\s*)"
    r"(?P<value>['\"]?[^,;}\s]+)",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """The text with email addresses and pay figures masked."""
    text = EMAIL.sub("[email]", text)
    return PAY.sub(lambda m: f"{m['field']}{m['sep']}[redacted]", text)


class RedactPII(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
