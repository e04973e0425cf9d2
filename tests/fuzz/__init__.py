"""Fuzzing: Hypothesis over the wire decoders, the state machine and the threaded shell.

The tests here run in the default suite with the normal Hypothesis profile; the dedicated
long run (at least 100,000 examples) uses the `fuzz` profile of `tests/conftest.py`, as
`tests/fuzz/RESULTS.md` records.
"""
