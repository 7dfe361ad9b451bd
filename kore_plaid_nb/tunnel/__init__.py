"""The public tunnel (procedure step 5): pyngrok with the real ngrok agent, or the local
agent stand-in in the embedded mode."""

from .control import (
    check_tunnel,
    close_all,
    close_tunnel,
    current_tunnel,
    list_tunnels,
    open_tunnel,
)
from .launcher import REJECTED_AUTHTOKEN, STANDIN_AUTHTOKEN
from .state import TunnelInfo

__all__ = [
    "REJECTED_AUTHTOKEN",
    "STANDIN_AUTHTOKEN",
    "TunnelInfo",
    "check_tunnel",
    "close_all",
    "close_tunnel",
    "current_tunnel",
    "list_tunnels",
    "open_tunnel",
]
