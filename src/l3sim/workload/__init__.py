"""l3sim.workload."""
