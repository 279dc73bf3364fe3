"""The operator's web console, served by the clearing process when [console] is configured.

    settings   [console] of fedmall.toml: where it listens, how the operator logs in
    logins     one-time login tokens (fedmall-clearing console-token), stored as hashes
    sessions   who is logged in: signed HttpOnly SameSite=Strict cookies, a CSRF token each
    guard      Host, Origin and CSRF checks every request passes first
    views      what each page shows, read through the command line's own modules
    actions    the operator's actions, through the clearing's own services, after a confirmation
    app        requests to pages and actions; server: the HTTP(S) server in a thread

How to turn it on, log in, and what each page and action does: docs/console.md.
"""
