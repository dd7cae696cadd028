"""The repository itself: docs, examples, no outside paths, the conformance gate."""
