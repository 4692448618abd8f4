"""Thin typed wrappers of the platforms plantão acts on: Railway, the monitored Postgres."""
