"""The only package that talks to PostgreSQL. Every query is parameterized."""
