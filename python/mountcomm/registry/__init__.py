"""mountcomm.registry."""
