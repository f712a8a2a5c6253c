"""Discord adapter: `create_adapter(teambot, web_app=...)`. Importing it connects nothing."""

from adapters.discord.adapter import DiscordAdapter, create_adapter

__all__ = ["DiscordAdapter", "create_adapter"]
