"""Regenerate aggregate-worker-metadata.json from the installed Prefect package.

Prefect's server fetches this view from the collection registry on GitHub and
falls back to a copy shipped inside the package. Warden never reaches the
network for it: it serves the packaged copy, embedded at build time. Run with
the repository's virtualenv after upgrading Prefect:

    .venv/bin/python internal/api/collections_data/generate.py
"""

import json
import pathlib

import prefect.server.api as server_api

VIEW = "aggregate-worker-metadata"

source = pathlib.Path(server_api.__file__).parent / "collections_data" / "views" / f"{VIEW}.json"
data = json.loads(source.read_text())
# Prefect drops the legacy agent type from this view when it fetches it.
data.get("prefect", {}).pop("prefect-agent", None)
out = pathlib.Path(__file__).parent / f"{VIEW}.json"
out.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
print(f"wrote {out} ({len(data)} collections) from prefect {__import__('prefect').__version__}")
