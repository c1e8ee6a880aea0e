"""mountcomm.sim.devices."""
