"""l3sim.serving."""
