"""Benchmarks of claude-sync at realistic scale: `python -m bench run --preset tiny|small|default`.

A seeded corpus generator (corpus.py), one module per figure (listing, noop, full_push, append,
hook, server), and the report that goes into BENCHMARKS.md.
"""
