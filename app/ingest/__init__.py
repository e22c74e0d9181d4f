"""Getting messages in: the two WeCom callback endpoints, the inbox writer's group commit, the
chat-archive poller and the replay of archive records.
"""
