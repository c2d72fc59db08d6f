"""Print the JSON Schema of results.json: ``python -m steps._outputs > docs/results.schema.json``."""

from __future__ import annotations

import json

from .collect import results_schema

print(json.dumps(results_schema(), ensure_ascii=False, indent=2))
