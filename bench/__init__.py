"""`make bench`: cardsmith against markdown-anki-decks (run.py; corpus, measure, report)."""
