"""RQ's default forking `Worker` on a queue of its own, against the service's Redis and database: the baseline
of the job-overhead benchmark. Run as `python -m bench.forking_worker INSTANCE REDIS_URL QUEUE MAX_JOBS [warm]`.

It waits for jobs (burst=False) and exits after MAX_JOBS: the benchmark submits one job at a time and waits for
it, and a burst worker would exit between two submissions. Per job the forking worker does the same in either
mode: fork a work horse, run the job in it, reap it.

The parent always imports what a job imports (else every work horse would import torch and OpenCV). With
`warm` it also runs the engine and a query once, so work horses inherit OpenCV's lazily built tables and
SQLAlchemy's compiled statements too: the forking worker's floor.
"""
from __future__ import annotations

import sys


def _warm_parent() -> None:
    import numpy as np
    from PIL import Image
    from sqlalchemy import select

    from pixelforge.models import Job
    from workers.engines.base import EngineInput
    from workers.engines.enhance import classical_enhance

    rng = np.random.default_rng(0)
    classical_enhance(EngineInput(Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)), {}))
    from pixelforge.extensions import db

    db.session.execute(select(Job.id).limit(1))
    db.session.remove()


def main(instance: str, redis_url: str, queue_name: str, max_jobs: int, warm: bool = False) -> None:
    from rq import Queue, Worker

    from pixelforge import create_app
    from pixelforge.extensions import db
    from pixelforge.queue import connect_redis

    app = create_app({"INSTANCE_DIR": instance, "REDIS_URL": redis_url, "QUEUE_NAME": queue_name})
    import workers.tasks  # noqa: F401
    from pixelforge.operations import OPERATIONS
    from workers.device import device_name
    from workers.engines import classical_engine

    for operation in OPERATIONS:  # imported before the fork, as the engines a job would use
        classical_engine(operation)
    device_name()
    redis = connect_redis(redis_url, socket_timeout=None)
    with app.app_context():
        if warm:
            _warm_parent()
        db.engine.dispose()  # no SQLite connection may cross a fork
        worker = Worker([Queue(queue_name, connection=redis)], connection=redis)
        print("ready", flush=True)
        worker.work(burst=False, max_jobs=max_jobs, logging_level="WARNING")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), warm=sys.argv[5:] == ["warm"])
