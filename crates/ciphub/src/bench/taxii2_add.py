"""Adds envelopes to a TAXII 2.1 collection with the OASIS taxii2-client at its defaults.

Used by `ciphub bench taxii`. Arguments: the collection URL, user, password, and a file
holding a JSON list of envelopes. Prints the seconds the adds took.
"""
import json
import sys
import time

from taxii2client.v21 import Collection

url, user, password, path = sys.argv[1:5]
with open(path, encoding="utf-8") as f:
    envelopes = json.load(f)
collection = Collection(url, user=user, password=password)
collection.refresh()
started = time.perf_counter()
for envelope in envelopes:
    # Defaults: wait_for_completion=True, poll_interval=1, timeout=60.
    status = collection.add_objects(envelope)
    if status.status != "complete" or status.failure_count:
        sys.exit(f"status {status.status} with {status.failure_count} failures")
print(f"{time.perf_counter() - started:.6f}")
