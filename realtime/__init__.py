"""Real time: the WebSocket hub, the Redis bridge between server processes, live positions.

``hub`` fans numbered events out to subscribers by topic, each with a bounded queue;
``bridge`` turns Redis pub/sub plus the history table into one ordered, gap-free stream per
process; ``ws`` is the ``/ws`` endpoint. Nothing here imports ``dispatcher``: the application
injects how to read the history and who may follow which topic.
"""
