"""plantão's shared vocabulary: models, settings, errors, logging, the Redis store and queue."""
