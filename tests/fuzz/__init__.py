"""Property-based fuzzing of the parsers and codecs (hypothesis)."""
