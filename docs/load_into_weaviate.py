"""Load a file job's vectors into a Weaviate collection, with the Weaviate Python client v4.

    python docs/load_into_weaviate.py MANIFEST WEAVIATE_URL COLLECTION [--api-key KEY] [--grpc-host H] [--grpc-port P]

MANIFEST is the job's `manifest.json`: an HTTP(S) URL or a local path (the file or its directory).
Each shard is found beside it, at its key's path after the job id (`.../<jobId>/shards/0.jsonl` is
`shards/0.jsonl` next to the manifest). A presigned manifest link does not sign the shards: copy
the job's prefix (`aws s3 cp --recursive`) and pass the directory. Shards are read in chunk order;
each line `{"id", "line", "vector"}` becomes one object with that vector, a `line` property and
`sourceId` (when the line has an id). Its uuid is the id itself when that is a UUID, else uuid5 of
the id, else uuid5 of "{jobId}:{line}" (weaviate.util.generate_uuid5): loading twice overwrites.
The collection must exist. The client sends objects over gRPC only: that port must be reachable.
Exit status 0 when every object landed; else it stops and lists the failed objects.
"""

import argparse
import json
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import weaviate
from weaviate.util import generate_uuid5


def lines_of(location: str) -> Iterator[str]:
    """Yield the text lines of a URL or local file, streamed (shards can be large)."""
    if urlsplit(location).scheme in ("http", "https"):
        with httpx.stream("GET", location, timeout=60, follow_redirects=True) as answer:
            answer.raise_for_status()
            yield from answer.iter_lines()
    else:
        with open(location, encoding="utf-8") as file:
            yield from file


def beside(manifest: str, key: str, job_id: str) -> str:
    """Take the manifest's location and a shard key; return where that shard lies next to it."""
    relative = key.split(f"{job_id}/", 1)[-1]
    if urlsplit(manifest).scheme in ("http", "https"):
        return urljoin(manifest, relative)
    return str(Path(manifest).parent / relative)


def object_uuid(job_id: str, record: dict) -> str:
    """Take a shard line; return its object's deterministic uuid (the id's own if it is a UUID)."""
    if record["id"] is None:
        return generate_uuid5(f"{job_id}:{record['line']}")
    try:
        return str(uuid.UUID(record["id"]))
    except ValueError:
        return generate_uuid5(record["id"])


def load(manifest: str, client: weaviate.WeaviateClient, collection_name: str) -> list[str]:
    """Import every shard line of the manifest; return one description per failed object.

    Stops the program (SystemExit) when the manifest's format or the collection is not as expected.
    """
    if Path(manifest).is_dir():
        manifest = str(Path(manifest) / "manifest.json")
    job = json.loads("".join(lines_of(manifest)))
    if job.get("formatVersion") != 1:
        sys.exit(f"unknown manifest formatVersion {job.get('formatVersion')!r}; this script reads 1")
    if not client.collections.exists(collection_name):
        sys.exit(f"collection {collection_name!r} does not exist in Weaviate: create it first")
    collection = client.collections.use(collection_name)
    sent = 0
    with collection.batch.fixed_size(batch_size=200) as batch:
        for shard in sorted(job["shards"], key=lambda s: s["chunk"]):
            for text in lines_of(beside(manifest, shard["jsonl"], job["jobId"])):
                if not text.strip():  # a trailing newline, or a blank line, is no record
                    continue
                record = json.loads(text)
                properties = {"line": record["line"]}
                if record["id"] is not None:
                    properties["sourceId"] = record["id"]
                batch.add_object(properties=properties, uuid=object_uuid(job["jobId"], record),
                                 vector=record["vector"])
                sent += 1
            if batch.number_errors:  # stop early: the rest would most likely fail the same way
                break
    print(f"sent {sent} of the manifest's {job['counts']['succeeded']} vectors to {collection_name}")
    return [f"line {failed.object_.properties['line']} (uuid {failed.object_.uuid}): {failed.message}"
            for failed in collection.batch.failed_objects]


def main() -> None:
    """Parse the command line, connect, load, and exit 1 with the failures listed if any."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifest")
    parser.add_argument("weaviate_url", help="e.g. http://localhost:8080")
    parser.add_argument("collection")
    parser.add_argument("--api-key", default=os.environ.get("WEAVIATE_API_KEY"))
    parser.add_argument("--grpc-host", help="default: the Weaviate URL's host (Weaviate Cloud: grpc-<host>)")
    parser.add_argument("--grpc-port", type=int, default=50051)
    args = parser.parse_args()
    url = urlsplit(args.weaviate_url)
    secure = url.scheme == "https"
    with weaviate.connect_to_custom(
        http_host=url.hostname, http_port=url.port or (443 if secure else 80), http_secure=secure,
        grpc_host=args.grpc_host or url.hostname, grpc_port=args.grpc_port, grpc_secure=secure,
        auth_credentials=weaviate.auth.Auth.api_key(args.api_key) if args.api_key else None,
    ) as client:
        failures = load(args.manifest, client, args.collection)
    if failures:
        sys.exit(f"{len(failures)} object(s) not imported:\n" + "\n".join(failures))
    print("every object imported")


if __name__ == "__main__":
    main()
