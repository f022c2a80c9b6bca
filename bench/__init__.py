"""Benchmarks, run on demand (never by pytest): ``.venv/bin/python -m bench.bench_intake`` and
``.venv/bin/python -m bench.bench_fanout``. Figures and conditions: ``docs/PERFORMANCE.md``.
"""
