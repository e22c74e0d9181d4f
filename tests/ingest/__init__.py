"""Tests of callbacks, the inbox writer, the chat archive and its replay (app/ingest/)."""
