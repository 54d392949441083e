"""Metadata: declarations only.

JSON Schemas, the YAML/JSON loader (with line numbers), validation, layering of
packages and the tenant overlay, and the compiled, immutable model.

Rule: imports only the standard library, PyYAML, jsonschema and
`metacrm.expressions`. No Flask, no database session: everything here is a pure
function over data, so it can be tested and run from the CLI without an app.
"""

from metacrm.metadata.compiler import compile_model, load_and_compile
from metacrm.metadata.errors import MetadataError, MetadataInvalid
from metacrm.metadata.model import Entity, Field, Model

__all__ = [
    "Entity",
    "Field",
    "MetadataError",
    "MetadataInvalid",
    "Model",
    "compile_model",
    "load_and_compile",
]
