"""Plaid's OpenAPI spec, pinned inside the repository (source, version and licence:
tests/data/plaid-openapi/SOURCE.md), with a validator per schema for the tests' answers."""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import yaml
from openapi_schema_validator import OAS30Validator

SPEC_PATH = Path(__file__).with_name("data") / "plaid-openapi" / "2020-09-14_1.697.4.yml.gz"
SPEC_SHA256 = "fb8c3f188d8b1c917f2b184b720a96361f2ee72f5d595d189e8b4513a1d62930"


class Spec:
    """The OpenAPI document, loaded once, with one cached validator per schema."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self._validators: dict[str, OAS30Validator] = {}

    def validator(self, schema_name: str) -> OAS30Validator:
        if schema_name not in self._validators:
            schema = {
                "$ref": f"#/components/schemas/{schema_name}",
                "components": self.document["components"],
            }
            self._validators[schema_name] = OAS30Validator(schema)
        return self._validators[schema_name]

    def success_schema(self, path: str) -> str:
        response = self.document["paths"][path]["post"]["responses"]["200"]
        return response["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]

    def error_schema(self, path: str) -> str:
        response = self.document["paths"][path]["post"]["responses"]["default"]
        return response["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]

    def check(self, schema_name: str, body: dict[str, Any]) -> None:
        problems = sorted(
            f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
            for e in self.validator(schema_name).iter_errors(body)
        )
        assert not problems, f"{schema_name} does not match the spec:\n" + "\n".join(problems)


# The parsed spec as JSON (it round-trips exactly): 0.02 s to read instead of a YAML parse of
# 1.8 s of CPU in every test process. Named by the pinned spec's hash; build/ is not committed.
CACHE_PATH = (
    Path(__file__).parents[1] / "build" / "test-cache" / f"plaid-openapi-{SPEC_SHA256}.json"
)


@functools.cache
def load_spec() -> Spec:
    """The pinned spec, after checking it is the pinned one; parsed once per process (from
    :data:`CACHE_PATH` once a process wrote it), shared by the emulator test files' ``spec``
    fixtures."""
    text = gzip.decompress(SPEC_PATH.read_bytes())
    assert hashlib.sha256(text).hexdigest() == SPEC_SHA256, (
        f"{SPEC_PATH.name} is not the pinned spec; see tests/data/plaid-openapi/SOURCE.md"
    )
    try:
        return Spec(json.loads(CACHE_PATH.read_bytes()))
    except (OSError, ValueError):
        pass  # not written yet (or cut short): parse, then keep it for the next processes
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    document = yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    write_private(CACHE_PATH, json.dumps(document).encode())
    return Spec(document)


def write_private(path: Path, data: bytes) -> None:
    """``path`` readable by its owner only (folder 0700), replaced whole: a process reading
    it meanwhile (another xdist worker) sees the old file or the new one, never a part."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    os.replace(partial, path)
