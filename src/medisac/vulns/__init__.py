"""Vulnerability advisories and what they affect in members' inventories.

:mod:`.csaf`, :mod:`.cve5` and :mod:`.kev` read CSAF 2.0 advisories, CVE
JSON 5 records and CISA's KEV catalogue into :mod:`.model` records;
:mod:`.versions` and :mod:`.ranges` compare versions as advisories write
them; :mod:`.names` reconciles vendor and product names; :mod:`.store` merges
records per CVE; :mod:`.inventory` reads what members run; :mod:`.match`
matches the two and ranks the result; :mod:`.stix` renders STIX 2.1 and
:mod:`.api` serves the JSON API.
"""
