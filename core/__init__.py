"""The ground floor of the house: what every part of the hotline stands on.

The site file and its settings, where an installation keeps its state, the SQL database,
the one clock, working time, secrets, the event bus, the shared names of outcomes and Redis
keys, and the record writer. Nothing here imports a feature folder or the application.
"""
