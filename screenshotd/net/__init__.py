"""The network boundary: ``egress`` (the private-network guard: address policy, resolving and
pinning, the door), ``proxy`` (the loopback egress proxy Chromium is forced through),
``outbound`` (guarded fetches the server itself makes)."""
