"""l3sim.experiments."""
