"""Replaying a labelled photo set as a catalogue and scoring the matching methods on it."""
