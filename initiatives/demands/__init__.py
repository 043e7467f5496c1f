"""Demands: problems posted by enterprises, cooperatives and local authorities."""
