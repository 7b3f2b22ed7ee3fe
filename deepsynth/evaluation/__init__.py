"""Scoring summaries, independent of how they were produced: ROUGE (`rouge`). No torch here."""
