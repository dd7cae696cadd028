"""The applications: chat (one process and across Redis), CLI, bots, the page in Chromium."""
