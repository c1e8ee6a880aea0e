"""mountcomm.sim."""
