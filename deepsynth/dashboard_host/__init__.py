"""Serving the dashboard: everything `deepsynth dashboard` and the app's sign-in gate need that is
not drawing (this package never imports streamlit; `dashboard/ui/login.py` draws the form).

- `launcher`: `deepsynth dashboard`: the Streamlit command, loopback by default, `--add-user`.
- `server_options`: the Streamlit settings the dashboard runs with wherever it is started from
  (bound address, accepted Host names, no usage statistics).
- `users`: scrypt password records, the users file, which login the app uses.
- `sessions`: one sign-in attempt; whether a signed-in session still counts.
- `throttle`: failed sign-ins counted on disk, per client address and per user name.
- `addresses`: the client address to count (a trusted proxy's forwarded address only).
"""
