"""Notification channels (Telegram, Slack, SMTP, signed webhooks), the background notifier and
the Bytewax sink that feeds it."""
