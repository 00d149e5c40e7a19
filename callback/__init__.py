"""Call-backs: the promise "we will call you back", kept.

A caller who keys 1 while waiting, reaches the maximum wait, or calls out of hours is booked
for a call-back (:mod:`callback.book`, in Redis, with the caller's place: their arrival and
red-list tier). When it is due and the queue is open, an application process makes an
attempt: a call in the line like any other (the same fairness rule and head start), whose
caller's channel does not exist yet. A free seat is rung first; once it answers, the
company's number is dialled out through the trunk with the hotline's number, the seat
hearing ringback; the company's answer makes it an ordinary call. Busy, no answer or
unreachable books it again after ``[callbacks].retry_after`` seconds, up to
``[callbacks].attempts``; then it is given up. The steps are ``call/calling_back.py``.
"""
