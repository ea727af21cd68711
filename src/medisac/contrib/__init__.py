"""Contributions: phishing e-mails and research reports in, reviewed indicators out.

:mod:`.mail` and :mod:`.reports` read the files, :mod:`.extract` and
:mod:`.links` find the values in them, :mod:`.draft` proposes each value or
sets it aside and scrubs personal data, and :mod:`.service` stores drafts
and applies an analyst's review.
"""
