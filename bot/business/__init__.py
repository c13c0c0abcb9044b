"""The company's business systems behind self-service: one Protocol, a bundled demo backend
and an HTTP backend for the company's own REST APIs."""
