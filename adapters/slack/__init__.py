"""Slack adapter: `create_adapter(teambot, *, web_app)` builds it; importing does nothing else."""

from adapters.slack.adapter import SlackAdapter, create_adapter

__all__ = ["SlackAdapter", "create_adapter"]
