"""ccg benchmarks: run explicitly, never as tests.

- `python -m benchmarks`: the suite (steady state, auth step, herd, cold fetch, import
  time, memory; renewal, soak, storm; the asyncio and adapter families, `--only async`)
  against nginx on 127.0.0.1 (or the Python fallback server), with the peers of the
  `bench` extra side by side.
- `python -m benchmarks.hot_path`: the hot path alone, against the hand-written floor.
- `benchmarks.smoke.run_smoke()`: every family once with tiny counts (for the test suite).
"""
