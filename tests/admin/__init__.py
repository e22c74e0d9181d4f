"""Tests of the REST API's administration side (app/admin/)."""
