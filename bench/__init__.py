"""Benchmarks of plantão on loopback: `bench/run ingest|first_post|storm|worker` (see README)."""
