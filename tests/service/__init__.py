"""Tests of the whole service: replicas, faults, deployment, migrations, settings, docs and
code rules."""
