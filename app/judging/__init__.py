"""Judging a batch of inbox events: facts for the batch in, the moderation pipeline, log rows,
strikes and outbox rows out.
"""
