"""Chat slash-commands: the registry and parser (`registry`) and the commands this version offers
(`commands`).
"""
