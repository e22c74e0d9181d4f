"""Community health: daily rollups per group, counted as messages are judged, and the
health figures and grade of each group over a window (docs/health.md)."""
