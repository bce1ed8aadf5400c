"""The built-in systems, one module per system (or family): each declares ``ENTRIES``, a tuple of SystemEntry.

``l3sim.serving.systems`` loads every module here when it is imported; a new module is a new system.
"""
