"""Return visits (回访): a company whose work order was answered is called and asked, by
keypad, whether it was responded to, resolved, and how satisfied it is.

``rules`` says when (pure), ``phases`` is the call's table (pure), ``book`` keeps the
visits in SQL and hands the due ones out, ``recorder`` writes what a call found,
``api`` takes a visit made by hand; the call itself is carried out by ``ari_app.visits``.
"""
