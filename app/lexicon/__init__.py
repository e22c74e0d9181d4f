"""The lexicon: words and the allow list, their service, files, the matcher a replica serves,
learning from corrections, and their REST routes.
"""
