"""The analysis engine: selections, small-group suppression, pseudonyms and metric tables.

Reads ``data``; never imports ``api`` (the fetch side) or ``views``.
"""
