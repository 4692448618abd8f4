"""The webhook receiver (RUN_MODE=api): verify, parse, classify, store, enqueue; imports core."""
