"""Who may call, and how often: ``gatekeeper`` (callers, keys and domain lists, the door and
the meter), ``ratelimit`` (memory and Redis limiters), ``signing`` (signed capture URLs)."""
