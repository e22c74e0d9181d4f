"""Tests of the web console (app/console/)."""
