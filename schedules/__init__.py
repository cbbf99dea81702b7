"""Hawk knowledge and schedule templates shipped as data (seed library)."""
