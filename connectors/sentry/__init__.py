"""Error reporting to Sentry, off unless a DSN is configured."""

from connectors.sentry.reporting import init_error_reporting, scrub_text

__all__ = ["init_error_reporting", "scrub_text"]
