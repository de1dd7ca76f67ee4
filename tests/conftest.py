"""Suite-wide fixtures. Concern-specific fixtures live in each folder's conftest.py;
shared helpers (the S3 server, the Kubernetes emulator) live in tests/support/.

The real S3 server's fixtures are registered here, once, so every folder shares one
session server instead of starting its own.
"""

from tests.support.s3server import own_s3_server, s3_bucket, s3_server

__all__ = ["own_s3_server", "s3_bucket", "s3_server"]
