"""Async jobs and batches: ``manager`` (admission, workers, cancellation, shutdown), ``queue``
(the fair waiting line), ``table`` (the kept jobs, by owner, and their expiry), ``records``
(jobs and batches as data), ``webhooks`` (signing and delivery)."""
