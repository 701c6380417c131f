"""Encounter documentation: records, the E/M level they support, cloned notes, E/M level statistics."""
