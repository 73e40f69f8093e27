"""The service and what it owns: ``service`` (the one road every capture takes: the cache, one
capture per key in flight, the pool), ``cache`` (memory and Redis), ``diffs`` (the diff's workers
and cache), ``jobs/`` (the job table, records, webhooks). HTTP, the CLI and MCP all call it."""
