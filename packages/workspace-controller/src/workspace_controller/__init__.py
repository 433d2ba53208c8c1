"""Workspace operator (not built yet: see the workspace-controller issue)."""
