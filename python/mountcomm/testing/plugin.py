"""pytest plugin of mountcomm (registered through the ``pytest11`` entry point).

Fixtures run everything on 127.0.0.1 with port 0 and close it afterwards.
"""

from __future__ import annotations
