"""Claude Code hooks: SessionEnd pushes the session, SessionStart pulls the project's sessions.

    policy.py     which hooks go into the client's settings.json; install, remove, status
    settings.py   settings.json edited as text, every byte that is not ours kept
    launcher.py   the script the hooks run, recording the interpreter and package folders
    runner.py     what runs inside a hook: the outbox, the detached worker, the hook log

Nothing is imported here: the SessionEnd hook imports runner.py with `python -S`.
"""
