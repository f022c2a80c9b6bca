"""HTTP and WebSocket: the handlers, OpenAPI, authentication, rate limits, the outbox.

May import the core, the store, the settings and ``realtime``; never the demo.
"""
