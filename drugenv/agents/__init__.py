"""Agents: the one ``Policy`` interface every agent implements, and the baselines.

    from drugenv.agents import Policy     # also drugenv.Policy
"""

from drugenv.agents.base import Policy

__all__ = ["Policy"]
