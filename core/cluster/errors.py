"""The one error a cluster index ends with, importable without Ray (the CLI maps it to its code, "cluster")."""


class ClusterError(Exception):
    """The cluster cannot run this index (not reachable, no workers, media not visible): said in plain words."""
