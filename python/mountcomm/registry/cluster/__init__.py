"""The port registry across hosts: daemons publish to, and mirror from, etcd.

Each registry daemon stays the local point of contact (all three dialects,
local allocation, owner-death release). With a cluster, it also publishes
each entry it holds to etcd, under one lease of its own, and mirrors every
daemon's entries from an etcd watch (see `ClusterLink`). No protocol of our
own between daemons: etcd is the only shared state.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_PREFIX",
    "MAX_LEASE_TTL",
    "ClusterLink",
    "ClusterRecord",
    "ClusterSettings",
    "ClusterView",
    "EtcdUnavailable",
    "decode_record",
    "parse_cluster_url",
    "record_key",
]

from .etcd import EtcdUnavailable
from .link import ClusterLink
from .records import DEFAULT_PREFIX, ClusterRecord, decode_record, parse_cluster_url, record_key
from .settings import MAX_LEASE_TTL, ClusterSettings
from .view import ClusterView
