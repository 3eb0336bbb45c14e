"""Verifying a generated layer with the user's BitBake: run it, read its messages and task
signatures, and measure how much nodes of one MACHINE share."""
