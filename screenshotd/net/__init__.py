"""The network boundary: ``addresses`` (reading hosts as a browser does, the address policy,
the DNS-free door), ``egress`` (the private-network guard: resolving and pinning, the door),
``proxy`` (the loopback egress proxy Chromium is forced through), ``outbound`` (guarded fetches
the server itself makes)."""
