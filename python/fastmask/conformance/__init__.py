"""Conformance with transformers: the conversation corpus users and the test suite check templates on."""
