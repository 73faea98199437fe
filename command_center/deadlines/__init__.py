"""Deadlines of every kind, derived from stored times and swept by any number of processes."""
