"""Research verbs: sweeps, walk-forward, the fixture scanner and bankroll simulation.

The modules here are the pure core (grids, figures, adjustments, folds, simulation, scanning)
plus :mod:`.runs`, the client glue that submits sweeps to the task system and reads them back.
"""
