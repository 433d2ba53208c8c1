"""Karpenter-compatible GPU node provider for AKS (not built yet: see the gpu-provisioner issue)."""
