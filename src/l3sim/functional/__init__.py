"""l3sim.functional."""
