"""Command-level DDR4/DDR5 timing engine with the L3 PIM commands (see docs/dram.md).

- ``commands``: ``Cmd``, ``CommandStream``, ``StreamBuilder``, ``concatenate``;
- ``rules``: the timing rules as a table;
- ``engine``: ``simulate(stream, dram, ranks_per_channel, policy, refresh, backend) -> Schedule``;
- ``checker``: ``check(stream, schedule, dram, ranks_per_channel) -> list[Violation]``;
- ``controller``: the host-traffic controller (read/write queues, FR-FCFS, draining, refresh), ``run``;
- ``mapping``: named address-mapping schemes; ``traces``: trace readers and the standard patterns.
"""
