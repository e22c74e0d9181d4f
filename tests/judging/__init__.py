"""Tests of judging batches through the service (app/judging/)."""
