"""Outgoing webhooks: subscriptions (`subscriptions.py`), the event outbox written in the
transaction of each change (`events.py`), Stripe-style signatures (`signing.py`) and the
workers' delivery loop (`delivery.py`). Importing this package imports none of them, so the
modules that write events (connections, the sync engine) pull in no HTTP machinery."""
