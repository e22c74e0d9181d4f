"""Carrying out stored actions: the dispatcher (retries, leases, per-channel limits) and the outbox
as operators see it over REST.
"""
