"""The chaos suite: mountcomm under process kills, hostile input and other users.

Run it with ``make chaos`` (or ``python -m chaos``). It is not part of
``make test``: it takes minutes and kills processes. See doc/reliability.md.
"""
