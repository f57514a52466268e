"""Claude Sync Sessions: carry Claude Code sessions between machines."""

__version__ = "0.1.0"
