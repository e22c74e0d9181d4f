"""Tests of chat slash-commands (app/chat/)."""
