"""Tests of the lexicon service and learning from corrections (app/lexicon/)."""
