"""A loopback S3 server (moto) for tests of publishing to and reading from object storage.

:class:`LocalS3Server` runs moto's ``ThreadedMotoServer`` on ``127.0.0.1`` at a free port with
fake credentials and one bucket, the way :class:`http_server.RangeHTTPServer` stands in for a
web server::

    with LocalS3Server() as s3:
        fs = s3.filesystem()                    # s3fs, pointed at the server
        url = s3.url("prefix/x.json")           # s3://<bucket>/prefix/x.json
        nwbzarr.read_nwb(url, storage_options=s3.storage_options)

Nothing leaves the machine: the endpoint is the loopback address, the credentials are fake.
"""

from __future__ import annotations

import os
import socket
from typing import Any

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
"""Environment variables a subprocess (or the CLI) needs to reach the server."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalS3Server:
    """moto's S3 on ``127.0.0.1`` (free port) from a background thread, with one bucket.

    Parameters
    ----------
    bucket : str
        Name of the bucket created at start.
    """

    def __init__(self, bucket: str = "nwbzarr-test") -> None:
        from moto.server import ThreadedMotoServer

        self.bucket = bucket
        self.port = _free_port()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def storage_options(self) -> dict[str, Any]:
        """s3fs options: the endpoint and the fake credentials."""
        return {
            "endpoint_url": self.endpoint_url,
            "key": FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "secret": FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        }

    def env(self) -> dict[str, str]:
        """``os.environ`` plus the fake credentials (for a subprocess)."""
        return {**os.environ, **FAKE_CREDENTIALS}

    def url(self, key: str = "") -> str:
        """``s3://<bucket>/<key>``."""
        return f"s3://{self.bucket}/{key.lstrip('/')}"

    def filesystem(self) -> Any:
        """A fresh (uncached) s3fs filesystem on the server."""
        import s3fs

        return s3fs.S3FileSystem(skip_instance_cache=True, **self.storage_options)

    def start(self) -> LocalS3Server:
        """Start the server and create the bucket; returns self."""
        self._server.start()
        self.filesystem().mkdir(self.bucket)
        return self

    def stop(self) -> None:
        """Stop the server."""
        self._server.stop()

    def __enter__(self) -> LocalS3Server:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
