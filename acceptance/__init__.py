"""Acceptance suite: a real Home Assistant and a real browser add the services, as a user would.

``scripts/acceptance`` runs ``python -m acceptance`` with the virtualenvs it needs. The fakes and
Home Assistant are started with ``scripts/demo.py``'s functions, on 127.0.0.1 only.
"""
