"""Rules to facts: loading rule packs, planning conditions, building facts, rendering findings."""
