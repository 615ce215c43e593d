"""Synthetic events, the producer, replay."""
