"""The Mimecast side: settings, signing, the HTTP transport, endpoint calls, fetching snapshots.

Layer order: ``api`` writes what ``data`` stores; ``analysis`` and ``views`` read it and never
import this subpackage.
"""
