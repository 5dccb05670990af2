"""The secure stack on one machine: OpenBao -> key server -> object server, all over TLS.

``strongroom stack up DIR`` builds and starts the MinIO KMS guide's architecture in one command;
``strongroom stack down DIR`` stops it. Files under DIR: see ``strongroom.stack.layout``.
"""

from __future__ import annotations

from strongroom.stack.errors import StackError
from strongroom.stack.layout import Layout, Ports
from strongroom.stack.lifecycle import ServiceState, StackInfo, down, status, up

__all__ = ["Layout", "Ports", "ServiceState", "StackError", "StackInfo", "down", "status", "up"]
