"""Helpers shared by the tests (and by benches/): corpora, tokenizers, templates, child-process scripts.

Imported as `_support.<module>`: pyproject.toml's pytest `pythonpath` puts tests/ on sys.path.
Test modules import from here, never from each other.
"""
