"""Code that runs inside the Rasa server (its own Python 3.10 environment, not ours):
it imports Rasa and the standard library only, and nothing of ours."""
