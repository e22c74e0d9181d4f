"""Newcomer screening: who joins a group, judged by name, company and how many of the
company's groups they joined lately (`moderation.screening`), and what the group's
`join_screening` policy does about it (docs/screening.md).

```
joins (app.judging.processing: change_external_chat add_member; app.groups.welcome: member
syncs) ──request──▶ join_screenings rows (due now)
                        │
                        ▼
JoinScreener.run (a worker pass, before the welcomes): claims due rows, per group one
groupchat/get (names, member types), externalcontact/get per external newcomer unless cached
(contact_profiles, SCREENING_CONTACT_TTL_HOURS), the groups each joined lately
                        │
                        ▼
moderation.screening.screen_newcomer ──▶ moderation log rows (source join), and unless in
shadow mode: a removal (app-created groups, policy remove), one alert per group and pass
```

Modules: `requests` (the hook joins call), `contacts` (the cached contact lookups),
`screener` (the worker pass and a screening by hand), `command` (`/screen`), `routes`
(`POST /api/v1/groups/{chat_id}/members/{user_id}/screen`).
"""
