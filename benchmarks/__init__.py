"""ccg benchmarks: run explicitly (`python -m benchmarks.hot_path`), never as tests."""
