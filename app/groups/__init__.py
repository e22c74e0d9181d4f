"""Groups: what each group allows (capabilities), one service for rules, mode, warn, pardon and
kick shared by REST and chat, moderator alerts, member syncs and welcomes.
"""
