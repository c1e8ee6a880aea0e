"""mountcomm.testing."""
