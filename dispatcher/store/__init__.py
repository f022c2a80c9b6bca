"""The PostgreSQL store: SQL beside the functions that run it, the group commit, the timers.

May import the core, the settings and ``realtime``'s envelope; never the web layer.
"""
