"""Tests of the WeCom wire protocol and client (bot/)."""
