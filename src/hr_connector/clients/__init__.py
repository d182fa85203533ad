"""Clients of the external systems: the customer's SFTP server and the ESM Web API."""
