"""Recordings: every answered call in one file (caller, seat, specialist), who may hear it,
who did, and how long it is kept."""
