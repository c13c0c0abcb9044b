"""The bundled demo backend: the company's systems played by a few SQLite tables of their
own (`tables`), an implementation of `BusinessSystems` over them (`backend`) and realistic
seed data with fixed personas for tests and the README (`seed`).

Seed it with `python -m bot business seed`; `python -m bot run` seeds it when it is empty.
"""
