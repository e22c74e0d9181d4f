"""The REST API's administration side: bearer tokens, the moderation log, reviews, statistics, the
audit trail, page cursors, health and metrics endpoints.
"""
