"""What people see: charts, dashboards, tables and shared HTML reports.

Reads ``analysis`` and ``data``; never imports ``api`` (the fetch side).
"""
