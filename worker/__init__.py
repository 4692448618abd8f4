"""The worker side (RUN_MODE=worker|scheduler): jobs, probes, Slack, and the plantao command."""
