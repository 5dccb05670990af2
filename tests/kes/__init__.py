"""Key server unit tests (the integration tests live in tests/kes/integration/)."""
