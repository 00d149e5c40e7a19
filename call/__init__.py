"""The call's decisions: what happens to a caller from arrival to the last leg gone.

``call.phases`` holds the table (phase and event in, guard, next phase, step) and
``decide``; the steps are ``call.waiting`` (arriving, waiting, ringing), ``call.talking``
(talking, moves, the transfer's glue) and ``call.ending`` (survey, thanks, the end). The
situation and the settings are ``call.state``; the events ``call.events``. Nothing here
talks to Asterisk, Redis or SQL: ``ari_app.call`` carries the actions out.
"""
