"""mountcomm.net."""
