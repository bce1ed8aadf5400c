"""l3sim.hw."""
