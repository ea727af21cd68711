"""Reading inputs and parsing every indicator format.

:mod:`.reader` expands paths into :class:`~medisac.ingest.document.Document`
objects (files, archive members, MISP feed events). :mod:`.detect` picks the
format, and one module per format turns a document into parse items
(observations, rejections, skipped objects and warnings): :mod:`.plain`,
:mod:`.csvfile`, :mod:`.stix`, :mod:`.misp`, :mod:`.openioc` and :mod:`.stix1`.
:mod:`.pipeline` normalises, merges and stores what the parsers produce.
"""
