"""Memory of one client holding a token, measured with tracemalloc in a fresh interpreter.

`python -m benchmarks._probe KIND BASE_URL MODULE...` imports the modules, builds the
client, makes one authenticated call (so it fetches and holds a token) and prints JSON:
`import_kib` (allocated by the imports and still held), `client_kib` (held by the client
and its token afterwards, including what the first request imports or caches lazily),
`client_peak_kib` (the peak while building and calling), and `next_client_kib` (held by a
second client built and used the same way: the cost of each further client).
"""

from __future__ import annotations

import gc
import importlib
import json
import sys
import tracemalloc
import warnings


def main(argv: list[str]) -> None:
    """Measure and print one JSON line."""
    key, base_url, *modules = argv
    tracemalloc.start()
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("ignore")
        for module in modules:
            importlib.import_module(module)
    gc.collect()
    imported, _ = tracemalloc.get_traced_memory()
    clients = importlib.import_module("benchmarks._clients")  # the harness, not measured
    kind = next(k for k in clients.ALL_KINDS if k.key == key)
    gc.collect()
    before, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    with clients.insecure_loopback_env():
        client = kind.build(base_url, "/token")
        status = client.call()
        gc.collect()
        after, peak = tracemalloc.get_traced_memory()
        second = kind.build(base_url, "/token")
        second_status = second.call()
        gc.collect()
        after_second, _ = tracemalloc.get_traced_memory()
        second.close()
        client.close()
    print(
        json.dumps(
            {
                "status": max(status, second_status),
                "import_kib": imported / 1024,
                "client_kib": (after - before) / 1024,
                "client_peak_kib": (peak - before) / 1024,
                "next_client_kib": (after_second - after) / 1024,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
