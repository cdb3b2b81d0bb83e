"""Configuration in one place: defaults here, then instance/config.py, then the environment, then a test's dict."""
from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from flask import Config, Flask

ENV_PREFIX = "PIXELFORGE_"
PLAN_NAMES = ("free", "starter", "pro", "api")  # plans.PLANS has a row for each; PLAN_LIMITS may override rows
RQ_FAILURE_TTL_SECONDS = 24 * 3600  # RQ keeps a failed task's record this long (the job row stays the truth)


class Defaults:
    """Every setting PixelForge reads, with its default. README's settings table mirrors this class."""

    # Every host on one database needs the same two secrets (checked at start, see shared_secrets); SECRET_KEY and
    # KEY_HASH_SECRET are also read from the environment without the prefix.
    SECRET_KEY: str | None = None  # generated into the instance folder on first run
    KEY_HASH_SECRET: str | None = None  # HMAC secret for API keys; generated likewise
    SQLALCHEMY_DATABASE_URI: str | None = None  # default: sqlite in the instance folder
    REDIS_URL: str | None = None  # default: the embedded redis started by `pixelforge serve`
    STORAGE_DIR: str | None = None  # default: <instance>/storage
    STORAGE_URL: str | None = None  # default: file://<STORAGE_DIR>; s3://bucket/prefix for S3-compatible storage
    S3_ENDPOINT_URL: str | None = None  # a non-AWS store (SeaweedFS, MinIO, R2, …); credentials: AWS_* variables
    S3_PUBLIC_ENDPOINT_URL: str | None = None  # the store as clients reach it, for presigned URLs
    RESULT_URLS = "api"  # "presigned": a done job's result_url is a time-limited URL on the store (s3:// only)
    RESULT_URL_SECONDS = 3600  # how long a presigned result URL works
    STORAGE_MIN_FREE_BYTES = 64 * 1024 * 1024  # /readyz says not ready with less free space than this in STORAGE_DIR
    MODELS_DIR: str | None = None  # default: <instance>/models (PIXELFORGE_MODELS also works)
    QUEUE_NAME = "pixelforge"

    MAX_UPLOAD_BYTES = 25 * 1024 * 1024  # whole request body; larger → 413 before it is read
    MAX_INPUT_PIXELS = 40_000_000  # read from the header, before decoding
    WEB_DECODE_PIXELS = 40_000_000  # pixels the web process decodes at once (upload checks, thumbnails); more wait
    MAX_OUTPUT_PIXELS = 64_000_000  # e.g. a 4x upscale of 2000×1500 (48 MP) fits
    MAX_PROMPT_CHARS = 1000

    SIGNUP_PLAN = "free"
    SIGNUP_CREDITS = 10
    AUTH_RATE_LIMIT = "10/minute"  # sign-up and sign-in POSTs per client address
    PLAN_LIMITS: dict = {}  # e.g. {"pro": {"rpm": 600}} overrides rows of plans.PLANS
    READ_RATE_MULTIPLIER = 10  # reads (status, list, download, account) get rpm × this per key
    RATELIMIT_STORAGE_URI: str | None = None  # default: REDIS_URL
    API_KEY_CACHE_SECONDS = 60.0  # reads may reuse a verified key this long (see keycache); 0 = look up every time

    # Seconds a job may run before it is failed and refunded come from each operation's spec (pixelforge/operations/);
    # these override them per operation name, e.g. {"<name>": 3600}: JOB_TIMEOUTS on a CPU worker (and for a classical
    # engine anywhere), GPU_JOB_TIMEOUTS when a model runs the job on a CUDA worker.
    JOB_TIMEOUTS: dict = {}
    GPU_JOB_TIMEOUTS: dict = {}
    OPERATION_PACKAGES: list = []  # packages whose modules define more operations (each an OPERATION), beside ours
    # CPU seconds per input megapixel of the upscalers, at one torch thread (a 2-core worker's default), measured
    # with the released architectures (bench/RESULTS.md, "CPU time limits"). A CPU job one of them runs may take
    # CPU_MODEL_TIME_MARGIN times that, when that is longer than JOB_TIMEOUTS: a 2 MP photo through RRDBNet x4 takes
    # ~10 minutes on such a CPU, which a fixed limit would fail every time. The _BF16 figures apply where the models
    # run in bf16 (CPU_PRECISION, bench/RESULTS.md "CPU inference paths": about twice as fast).
    CPU_MODEL_SECONDS_PER_MP = {"realesr-general-x4v3": 20, "realesrgan-x2plus": 80, "realesrgan-x4plus": 320}
    CPU_MODEL_SECONDS_PER_MP_BF16 = {"realesr-general-x4v3": 12, "realesrgan-x2plus": 45, "realesrgan-x4plus": 180}
    CPU_MODEL_TIME_MARGIN = 3.0
    CPU_PRECISION = "auto"  # models on a CPU: auto (bf16 where the CPU has it in hardware), bfloat16 or float32
    WORKER_HEARTBEAT_SECONDS = 5.0
    UPKEEP_EVERY_SECONDS = 5.0  # reaping, requeueing and expiry run once per this, for the whole cluster (Redis lock)
    WORKER_LOST_AFTER_SECONDS = 30.0  # a processing job whose worker is silent this long is failed+refunded
    QUEUED_EXPIRE_SECONDS = 3600.0  # a job still queued after this is failed+refunded
    REQUIRE_LIVE_WORKER = True  # submissions answer 503 when no worker is alive
    WORKER_MAX_JOBS = 500  # recycle a worker process after this many jobs (bounds memory growth)
    WORKER_TORCH_THREADS = 0  # CPU threads per worker for torch; 0 = the cores left after the web server, shared
    PULL_MODELS_ON_START = True  # `serve`'s first start pulls the default models in the background (cli/first_start)

    IDEMPOTENCY_WINDOW_SECONDS = 24 * 3600  # an Idempotency-Key replays its first response this long
    RESULT_RETENTION_SECONDS = 7 * 24 * 3600  # inputs and results are deleted after this (plans may differ)
    STRICT_STARTUP_CHECKS = False  # refuse to start (rather than warn) when Redis may evict queued jobs

    WEB_THREADS = 16  # requests the web process serves at once (Flask runs in a thread pool under the ASGI root)
    BODY_IDLE_TIMEOUT_SECONDS = 30.0  # a request body that stalls this long between chunks gets 408
    BODY_TIMEOUT_SECONDS = 300.0  # ... or that is not complete this long after its headers
    KEEPALIVE_SECONDS = 75  # an idle HTTP connection stays open this long (above clients' poll intervals)
    PLAYGROUND_ENABLED = True  # mount the Gradio playground at /playground
    PLAYGROUND_TEMP_DIR: str | None = None  # Gradio's upload/result cache; default <instance>/gradio
    PLAYGROUND_CONCURRENCY = 8  # playground runs that may wait on jobs at once
    PLAYGROUND_UPLOAD_QUOTA_BYTES = 100 * 1024 * 1024  # what one user's playground uploads may hold at once
    PLAYGROUND_UPLOAD_QUOTA_FILES = 24  # …and how many files (the mask editor uploads ~2 per stroke)
    PLAYGROUND_UPLOAD_TTL_SECONDS = 600.0  # an upload no run used is deleted after this (a run's, when it ends)

    PNG_COMPRESS_LEVEL = 1  # lossless either way; level 1 is several times faster than Pillow's default 6
    SESSION_COOKIE_SECURE = False  # set True behind HTTPS; browsers drop Secure cookies on http://127.0.0.1
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    PREFERRED_URL_SCHEME = "http"
    METRICS_ENABLED = True  # GET /metrics (Prometheus): queue depth, jobs by outcome, durations, live workers
    METRICS_TOKEN: str | None = None  # when set, /metrics needs `Authorization: Bearer <token>`; else loopback only
    TRUST_PROXY_HEADERS = False  # honour X-Forwarded-* from one reverse proxy

    # Jobs that tell you (webhooks, waiting, live events) and inputs by URL
    PUBLIC_URL: str | None = None  # the site's root for links in webhooks; default: as each job's submitter saw it
    WEBHOOK_ALLOW_HOSTS = ""  # hosts (names or IPs, comma-separated) webhooks and image_url may reach on private,
    #                          loopback or link-local addresses, e.g. "127.0.0.1,hooks.internal"; others: 422
    WEBHOOK_TIMEOUT_SECONDS = 10.0  # one delivery attempt (connect + answer)
    WEBHOOK_RETRY_SECONDS = [5, 300, 1800, 7200, 18000, 36000, 36000]  # waits between attempts (~28 h in all)
    WEBHOOK_REQUEUE_SECONDS = 60.0  # a queued attempt not sent by then is queued again (its entry was lost)
    DOWNLOAD_WAIT_SECONDS = 30.0  # GET /jobs/<id>/download of an active job waits this long before 409
    IMAGE_URL_TIMEOUT_SECONDS = 15.0  # fetching an image_url, all of it
    EVENT_RETENTION_SECONDS = 7 * 24 * 3600  # job events and finished webhook deliveries are deleted after this


def instance_path_from_env(default: str | None = None) -> str:
    """The instance folder: PIXELFORGE_INSTANCE, else ./instance in the working directory."""
    return os.path.abspath(os.environ.get("PIXELFORGE_INSTANCE") or default or "instance")


@dataclass(frozen=True)
class WorkerEnvironment:
    """A worker's device settings, read from the environment when asked (their names are documented)."""

    device: str | None  # PIXELFORGE_DEVICE=cpu|cuda forces the device; None: detect it
    tile: int | None  # PIXELFORGE_TILE: the upscalers' tile edge in input pixels; None: chosen per device
    onnx_allow_cpu: bool  # PIXELFORGE_ONNX_ALLOW_CPU=1: ONNX models may fall back to the CPU on a GPU host


def worker_environment() -> WorkerEnvironment:
    """The worker's PIXELFORGE_DEVICE, PIXELFORGE_TILE and PIXELFORGE_ONNX_ALLOW_CPU, as they are now."""
    forced = os.environ.get(ENV_PREFIX + "DEVICE", "").strip().lower()
    tile = os.environ.get(ENV_PREFIX + "TILE")
    return WorkerEnvironment(device=forced if forced in ("cpu", "cuda") else None,
                             tile=int(tile) if tile else None,
                             onnx_allow_cpu=os.environ.get(ENV_PREFIX + "ONNX_ALLOW_CPU") == "1")


def load_settings(test_config: dict | None = None, instance_path: str | None = None) -> Config:
    """Every setting as the app sees it: defaults, instance/config.py, the environment, then test_config, with
    the derived paths filled in. Builds no app and creates nothing (no database, folder or secret), so the CLI
    and a worker can read a path cheaply; create_app uses it too."""
    instance = os.path.abspath(instance_path or (test_config or {}).get("INSTANCE_DIR") or instance_path_from_env())
    settings = Config(instance, Flask.default_config)  # Flask's own settings take PIXELFORGE_* overrides too
    settings.from_object(Defaults)
    settings.from_pyfile("config.py", silent=True)
    _apply_environment(settings)
    if test_config:
        settings.update(test_config)
    _derive(settings, Path(instance))
    return settings


def load_config(app: Flask, test_config: dict | None) -> None:
    """Fill app.config from load_settings, then make what the app needs on disk (instance folder, secrets)."""
    app.config.update(load_settings(test_config, app.instance_path))
    _fill_derived(app)


def _apply_environment(config: dict) -> None:
    for name, value in os.environ.items():
        if name.startswith(ENV_PREFIX) and name[len(ENV_PREFIX):] in config:
            key = name[len(ENV_PREFIX):]
            config[key] = _coerce(value, config[key])
    if os.environ.get("DATABASE_URL"):
        config["SQLALCHEMY_DATABASE_URI"] = _normalise_database_url(os.environ["DATABASE_URL"])
    if os.environ.get("REDIS_URL"):
        config["REDIS_URL"] = os.environ["REDIS_URL"]
    # the names other tools use, unprefixed; the secrets so that hosts sharing a database can share them
    for name in ("STORAGE_URL", "S3_ENDPOINT_URL", "SECRET_KEY", "KEY_HASH_SECRET"):
        if os.environ.get(name):
            config[name] = os.environ[name]
    if os.environ.get("PIXELFORGE_MODELS"):
        config["MODELS_DIR"] = os.environ["PIXELFORGE_MODELS"]


def _coerce(raw: str, current):
    """Read an environment string as the type of the setting it overrides."""
    if isinstance(current, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(current, int):
        return int(raw)
    if isinstance(current, float):
        return float(raw)
    if isinstance(current, (dict, list)):
        return json.loads(raw)
    return raw


def _normalise_database_url(url: str) -> str:
    """Heroku-style postgres:// URLs name the psycopg 3 driver explicitly."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def _derive(config: Config, instance: Path) -> None:
    """The settings whose defaults follow from others (paths under the instance folder); no side effects."""
    config.setdefault("INSTANCE_DIR", str(instance))
    if not config["SQLALCHEMY_DATABASE_URI"]:
        config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{instance / 'pixelforge.db'}"
    config["SQLALCHEMY_DATABASE_URI"] = _normalise_database_url(config["SQLALCHEMY_DATABASE_URI"])
    # One pooled connection per request thread: past the pool, every request would open (and tune) a new one.
    engine_options = {"pool_size": config["WEB_THREADS"], "max_overflow": config["WEB_THREADS"]}
    if config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        engine_options["connect_args"] = {"timeout": 30}
    config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", engine_options)
    config["STORAGE_DIR"] = config["STORAGE_DIR"] or str(instance / "storage")
    config["STORAGE_URL"] = config["STORAGE_URL"] or Path(config["STORAGE_DIR"]).absolute().as_uri()
    config["MODELS_DIR"] = config["MODELS_DIR"] or str(instance / "models")
    config["MAX_CONTENT_LENGTH"] = config["MAX_UPLOAD_BYTES"]
    config["RATELIMIT_STORAGE_URI"] = config["RATELIMIT_STORAGE_URI"] or config["REDIS_URL"]


def _fill_derived(app: Flask) -> None:
    """What the app needs on disk: the instance folder, and the secrets generated into it on first run."""
    config = app.config
    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    config["SECRET_KEY"] = config["SECRET_KEY"] or _instance_secret(instance, "secret_key")
    config["KEY_HASH_SECRET"] = config["KEY_HASH_SECRET"] or _instance_secret(instance, "key_hash_secret")


def _instance_secret(instance: Path, name: str) -> str:
    """Read a secret from the instance folder, creating it (mode 600) on first run."""
    path = instance / name
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        value = secrets.token_urlsafe(48)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process of ours created it first
            return path.read_text().strip()
        with os.fdopen(fd, "w") as handle:
            handle.write(value)
        return value
