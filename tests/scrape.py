"""Reading a server's ``/metrics`` with prometheus-client's own parser."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

Labels = tuple[tuple[str, str], ...]
Samples = dict[str, dict[Labels, float]]


def scrape(base_url: str) -> Samples:
    """Every sample of ``base_url``'s ``/metrics``: by sample name, then by its labels."""
    response = httpx.get(f"{base_url}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    found: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found.setdefault(sample.name, {})[labels(**sample.labels)] = sample.value
    return found


def labels(**pairs: str) -> Labels:
    """A sample's labels as ``Samples`` keys them."""
    return tuple(sorted(pairs.items()))
