"""Monitors: captures on a schedule with visual change detection (:mod:`.service`); their
records (:mod:`.model`), the SQLite store and images (:mod:`.store`), and the comparison
(:mod:`.compare`)."""
