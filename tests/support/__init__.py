"""Test harness: HTTP recorders, the real Alertmanager, and plantão processes on loopback."""
