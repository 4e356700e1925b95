"""Long-running work as plain Python (train, segment, classify, evaluate); no Qt here."""
