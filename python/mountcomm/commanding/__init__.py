"""mountcomm.commanding."""
