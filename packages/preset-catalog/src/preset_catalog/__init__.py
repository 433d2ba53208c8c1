"""Preset catalog."""
