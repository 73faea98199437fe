"""Accounts: users, departments, tokens, roles and the permission layer."""
