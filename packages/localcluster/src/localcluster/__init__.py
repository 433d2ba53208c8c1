"""Local control plane."""
