"""Tests of the pure detectors, engine, pipeline and their evaluation (moderation/)."""
