"""Activation: the one send decision, message templates, triggers, campaigns and webhooks,
all sending through the outbox (cdp/outbox/)."""
