"""Tests of carrying out stored actions (app/outbox/)."""
