"""Tests of the sans-I/O protocol layer (no event loop, no sockets)."""
