"""Suite-wide fixtures. Concern-specific fixtures live in each folder's conftest.py;
shared helpers (the S3 server, the Kubernetes emulator) live in tests/support/."""
