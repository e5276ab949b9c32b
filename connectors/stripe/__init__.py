"""Stripe billing through the official ``stripe`` SDK: catalogue, customers, usage, webhooks."""
