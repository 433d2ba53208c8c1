"""Typed API models (Workspace, Machine, NodeClaim) and the CRD generator."""
