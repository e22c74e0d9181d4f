"""Tests of groups, capabilities, welcomes (app/groups/)."""
