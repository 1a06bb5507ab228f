"""Benchmarks: scripts run by hand against real services, not timed tests.

A timed assertion in the test suite would fail on a busy build machine for reasons unrelated to the
code; a script that reports numbers leaves the judgement to whoever reads them.
"""
