"""Async jobs and batches: ``manager`` (the job table, the fair queue, workers, expiry,
shutdown), ``records`` (jobs and batches as data), ``webhooks`` (signing and delivery)."""
