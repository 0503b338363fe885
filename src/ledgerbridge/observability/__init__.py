"""What the product tells operators about itself: structured logs (`logs.py`), Prometheus
metrics (`metrics.py`), provider request logs and metrics hooked into the shared HTTP
client (`provider_http.py`) and access logs of the unified API (`access.py`).

This package imports nothing of the product, so any layer may report through it.
"""
