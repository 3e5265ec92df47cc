"""The DNS guard: the bottle's only resolver (UDP and TCP), its wire format and its upstream."""
