"""Property: JSON-LD processing of any `@context` raises `InvalidObject` or succeeds, nothing else (issue 8)."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import activitypub as ap

pytestmark = pytest.mark.fuzz

HOSTILE_CONTEXTS = ["", "\u0000", "garbage " * 50, "https://", "http://joinmastodon.org/ns", ap.AS_CONTEXT]
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
contexts = st.recursive(
    scalars | st.sampled_from(HOSTILE_CONTEXTS),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["@vocab", "@id", "@type", "@version", "x", "@base", "@language"]), children, max_size=3
        )
    ),
    max_leaves=8,
)


@given(context=contexts, value=scalars)
def test_any_context__is_processed_or_refused_as_invalid(context: Any, value: Any) -> None:
    loader = ap.OfflineDocumentLoader()
    document = {"@context": context, "id": "https://remote.example/1", "type": "Note", "x": value}
    for process in (
        lambda: ap.expand(document, loader),
        lambda: ap.compact(document, ap.AS_CONTEXT, loader),
        lambda: ap.canonicalize(document, loader),
    ):
        with contextlib.suppress(ap.InvalidObject):
            process()


@pytest.mark.parametrize("context", ["", "\u0000", "garbage " * 50])
def test_bad_context_strings__are_invalid_objects(context: str) -> None:
    with pytest.raises(ap.InvalidObject, match="expansion failed"):
        ap.expand({"@context": context, "id": "https://remote.example/1"}, ap.OfflineDocumentLoader())


def test_bad_context_strings__twin_expands() -> None:
    document = {"@context": ap.AS_CONTEXT, "id": "https://remote.example/1", "type": "Note"}
    expanded = ap.expand(document, ap.OfflineDocumentLoader())
    assert expanded[0]["@id"] == "https://remote.example/1"
