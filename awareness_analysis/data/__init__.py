"""Tidy frames built from API dicts, and the snapshot store that keeps them.

The bottom layer: it imports nothing from ``api``, ``analysis`` or ``views``.
"""
