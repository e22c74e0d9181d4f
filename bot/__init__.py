"""WeCom wire protocol: callback crypto, parsing into typed events, the outbound API client.

No database, no policy: this package must not import `app` or `moderation`.
"""
