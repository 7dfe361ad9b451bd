"""kore_plaid_nb: connect Kore.ai to Plaid through an OAuth v2 - Custom profile.

Parts (data flows one way, settings -> services -> notebooks):
``settings``, ``plaid_client``, ``emulator``, ``bridge``, ``tunnel``, ``kore``,
``verification``, ``runbook``, ``widgets``, ``cli``.
"""

__version__ = "0.1.0"
