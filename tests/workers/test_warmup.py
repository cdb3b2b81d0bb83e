"""#18 "first jobs are fast": a worker warms its installed models at start, and numba's cache lives in the
instance folder (tiny stand-in models with the real signatures; no download)."""
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import model_factories as mf
from workers import inference
from workers.engines.base import EngineInput
from workers.inference import run_model_engine
from workers.warmup import describe, use_instance_numba_cache, warm_up

pytestmark = pytest.mark.usefixtures("fresh_model_cache")


@pytest.fixture
def models_dir(tmp_path):
    mf.write_u2net_like_onnx(tmp_path / "rembg-u2net" / "u2net.onnx")
    mf.write_compact(tmp_path / "realesr-general-x4v3" / "realesr-general-x4v3.pth")
    return tmp_path


def test_warm_up_loads_every_default_model_so_the_first_job_loads_nothing(models_dir, monkeypatch):
    import rembg

    warmed = warm_up(models_dir)
    assert [(w.name, w.operation, w.error) for w in warmed] == [
        ("realesr-general-x4v3", "upscale", None), ("rembg-u2net", "remove-background", None)]
    assert {name for name, _ in inference.loaded_models()} == {"realesr-general-x4v3", "rembg-u2net"}

    sessions, loads = [], []
    monkeypatch.setattr(rembg, "new_session", lambda *a, **k: sessions.append(a))
    monkeypatch.setattr("workers.inference.upscale.load_upscaler", lambda path: loads.append(path))
    image = mf.gradient_image(24, 16)
    background = run_model_engine("remove-background", EngineInput(image, {"format": "png"}), models_dir)
    upscaled = run_model_engine("upscale", EngineInput(image, {"scale": 4}), models_dir)
    assert (background.model, upscaled.model) == ("rembg-u2net", "realesr-general-x4v3")
    assert sessions == [] and loads == []  # both were already loaded by the warm-up


def test_nothing_installed_warms_nothing(tmp_path):
    assert warm_up(tmp_path) == []
    assert "classical engines serve" in describe([], 0.0)


def test_a_model_that_fails_to_warm_is_reported_and_the_others_still_warm(models_dir):
    (models_dir / "rembg-u2net" / "u2net.onnx").write_bytes(b"not an onnx graph")
    warmed = {w.name: w for w in warm_up(models_dir)}
    assert warmed["realesr-general-x4v3"].error is None
    assert warmed["rembg-u2net"].error  # reported, not raised: the worker still takes jobs
    line = describe(list(warmed.values()), 1.0)
    assert "rembg-u2net (remove-background)" in line and "FAILED" in line


def test_numba_cache_goes_to_the_instance_folder_unless_the_operator_chose_one(tmp_path, monkeypatch):
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    folder = use_instance_numba_cache(tmp_path / "instance")
    assert folder == tmp_path / "instance" / "cache" / "numba" and folder.is_dir()
    assert os.environ["NUMBA_CACHE_DIR"] == str(folder)
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "chosen"))
    assert use_instance_numba_cache(tmp_path / "instance") == tmp_path / "chosen"


@pytest.mark.parametrize("numba_first", [False, True], ids=["before-numba", "after-numba"])
def test_compiled_functions_are_cached_in_the_instance_folder(tmp_path, numba_first):
    """What rembg's import does to pymatting, on a one-line function: the cache lands under the instance."""
    module = tmp_path / "src" / "compiled_here.py"
    module.parent.mkdir()
    module.write_text("import numba\n\n@numba.njit(cache=True)\ndef double(x):\n    return 2 * x\n")
    script = textwrap.dedent(f"""
        import sys
        if {numba_first}:
            import numba
        from workers.warmup import use_instance_numba_cache
        use_instance_numba_cache({str(tmp_path / "instance")!r})
        sys.path.insert(0, {str(module.parent)!r})
        import compiled_here
        assert compiled_here.double(21) == 42
    """)
    env = {key: value for key, value in os.environ.items() if key != "NUMBA_CACHE_DIR"}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=120)
    cached = list((tmp_path / "instance" / "cache" / "numba").rglob("*.nbi"))
    assert cached, "numba wrote no cache index under the instance folder"
    assert not list(module.parent.rglob("*.nbi"))  # nothing beside the source (site-packages, for pymatting)


def test_a_model_installed_while_the_worker_runs_is_warmed_before_its_queue_is_heard(tmp_path, redis_server):
    """`serve`'s first-start pull installs models into a running worker's folder: the heartbeat notices, an idle
    worker's poll starts warming them in a thread, and only then does it listen for them."""
    from redis import Redis
    from rq import Queue

    from workers.warmup import NewModels
    from workers.worker import device_sized_worker_class

    new_models = NewModels(())
    assert new_models.ready(()) == ()
    mf.write_u2net_like_onnx(tmp_path / "rembg-u2net" / "u2net.onnx")  # the pull lands
    assert new_models.ready(("rembg-u2net",)) == ()  # installed, not yet warm: its queue is not heard yet
    assert inference.loaded_models() == []

    redis = Redis.from_url(redis_server.url)
    worker = device_sized_worker_class()([Queue("pixelforge-test-empty", connection=redis)], connection=redis,
                                         name="warm-test")
    worker.new_models, worker.models_dir = new_models, str(tmp_path)
    worker.dequeue_job_and_maintain_ttl(1, max_idle_time=2)  # an idle worker's polls
    assert wait_until_ready(new_models, ("rembg-u2net",))
    assert {name for name, _ in inference.loaded_models()} == {"rembg-u2net"}
    worker.dequeue_job_and_maintain_ttl(1, max_idle_time=1)  # nothing left to warm: nothing loads again
    assert not new_models.warming.is_alive() and len(inference.loaded_models()) == 1


def wait_until_ready(new_models, installed: tuple[str, ...], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if new_models.ready(installed) == installed:
            return True
        time.sleep(0.05)
    return False


def test_other_jobs_run_while_a_new_model_warms_and_its_own_wait_on_its_queue(app, tmp_path, redis_server,
                                                                              monkeypatch):
    """A first start's numba compile took 43 s: the worker's other jobs must not wait for it. A job of a model
    installed while the worker runs and not warm yet (it came through the general queue: no worker had published
    the model) starts the warm-up if need be and is handed to that model's queue, in order, to run once the worker
    hears that queue; the jobs behind it are not held meanwhile (by hand, an enhance sent 2 s after the first
    remove-background took 43 s when the worker ran that job cold)."""
    from redis import Redis
    from rq import Queue

    from pixelforge.queue import model_queue_name
    from workers import warmup
    from workers.warmup import NewModels
    from workers.worker import device_sized_worker_class

    compiled = threading.Event()

    def slow_warm_up(models_dir, only=None):  # stands in for the compile; ends when the test says so
        compiled.wait(30)
        return []

    monkeypatch.setattr(warmup, "warm_up", slow_warm_up)
    new_models = NewModels(())
    mf.write_u2net_like_onnx(tmp_path / "rembg-u2net" / "u2net.onnx")  # the pull lands; no heartbeat noticed yet
    redis = Redis.from_url(redis_server.url)
    general = Queue("pixelforge-test-general", connection=redis)
    model_queue = Queue(model_queue_name(general.name, "rembg-u2net"), connection=redis)
    meta = {"params": {}, "pixels": 16}
    first = general.enqueue("builtins.len", "abcd", meta={"operation": "remove-background", **meta})
    other = general.enqueue("builtins.len", "abc", meta={"operation": "upscale", **meta})
    second = general.enqueue("builtins.len", "abcde", meta={"operation": "remove-background", **meta})
    worker = device_sized_worker_class()([general], connection=redis, name="warm-test-busy")
    worker.new_models, worker.models_dir, worker.queue_base = new_models, str(tmp_path), general.name
    started = time.monotonic()
    with app.app_context():
        worker.work(burst=True)
    assert time.monotonic() - started < 20
    assert other.get_status(refresh=True) == "finished" and other.return_value() == 3
    assert new_models.warming.is_alive()  # the first job of the model started its warm-up
    assert new_models.ready(("rembg-u2net",)) == ()  # still warming: its queue is not heard yet
    assert model_queue.job_ids == [first.id, second.id]  # in order, each on exactly one queue, nothing left behind
    assert general.job_ids == [] and redis.lrange(general.intermediate_queue_key, 0, -1) == []
    for job in (first, second):
        job.refresh()
        assert job.get_status() == "queued" and job.origin == model_queue.name
        assert job.meta["operation"] == "remove-background"  # still sized like itself when it runs

    compiled.set()
    assert wait_until_ready(new_models, ("rembg-u2net",))
    worker = device_sized_worker_class()([model_queue, general], connection=redis, name="warm-test-heard")
    worker.new_models, worker.models_dir, worker.queue_base = new_models, str(tmp_path), general.name
    with app.app_context():
        worker.work(burst=True)  # what the worker does once it hears the model's queue
    assert first.get_status(refresh=True) == "finished" and first.return_value() == 4
    assert second.get_status(refresh=True) == "finished" and second.return_value() == 5


def test_a_worker_that_never_hears_model_queues_runs_every_job_as_it_comes(tmp_path):
    """`worker --queues general` listens on no model queue: handing it a job there would strand the job."""
    from workers.warmup import NewModels

    mf.write_u2net_like_onnx(tmp_path / "rembg-u2net" / "u2net.onnx")
    assert NewModels((), hears_model_queues=False).not_yet_warm("remove-background", {}, str(tmp_path)) is None
    assert NewModels(("rembg-u2net",)).not_yet_warm("remove-background", {}, str(tmp_path)) is None  # warm
    assert NewModels(()).not_yet_warm("enhance", {}, str(tmp_path)) is None  # classical: no model to wait for


def test_the_worker_listens_for_a_new_model_as_soon_as_it_is_warm(app, tmp_path, redis_server, monkeypatch):
    """Jobs handed to a model's queue wait for the worker to hear it: that happens when the warm-up ends, not at
    the heartbeat's next beat (up to WORKER_HEARTBEAT_SECONDS later)."""
    from redis import Redis

    from workers import warmup
    from workers.worker import Heartbeat, Listening

    compiled = threading.Event()
    monkeypatch.setattr(warmup, "warm_up", lambda models_dir, only=None: compiled.wait(30) and [])
    app.config.update(WORKER_HEARTBEAT_SECONDS=60, MODELS_DIR=str(tmp_path))
    base = app.config["QUEUE_NAME"]
    heartbeat = Heartbeat(app, Redis.from_url(redis_server.url), "warm-test-listens",
                          Listening.for_models(base, (), "cpu", time.time()))
    mf.write_u2net_like_onnx(tmp_path / "rembg-u2net" / "u2net.onnx")
    heartbeat.start()  # its first beat notices the new model
    try:
        deadline = time.monotonic() + 10
        while not heartbeat.new_models.pending and time.monotonic() < deadline:
            time.sleep(0.05)
        heartbeat.new_models.warm_pending(str(tmp_path))  # what the idle worker's poll does
        time.sleep(0.5)
        assert heartbeat.listening.queues == (base,)  # warming: not heard yet
        compiled.set()
        deadline = time.monotonic() + 5  # far less than the 60 s between beats
        while heartbeat.listening.models != ("rembg-u2net",) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert heartbeat.listening.queues == (f"{base}:model:rembg-u2net", base)
    finally:
        heartbeat.stop()
        heartbeat.join(5)
    assert not heartbeat.is_alive()


@pytest.mark.parametrize("device, ran", [("cpu", False), ("cuda", True)])
def test_inpainting_runs_once_at_warm_up_on_a_gpu_and_only_loads_on_a_cpu(tmp_path, monkeypatch, device, ran):
    """On an H200 the first inpaint job after a load-only warm-up took 1.4-3.3 s more than a warm one (the GPU's
    kernels load on the first run; bench/gpu_engines.py); a short run there costs a fraction of a second, while on a
    CPU even a tiny diffusion run takes many seconds."""
    from workers.engines.base import EngineOutput

    mf.write_sd_inpainting_skeleton(tmp_path / "sd-inpainting")
    loads, runs = [], []
    monkeypatch.setattr("workers.device.device_name", lambda: device)
    monkeypatch.setattr("workers.inference.inpaint.get_pipeline", lambda name, models_dir: loads.append(name))

    def run_inpaint(inp, name, models_dir):
        runs.append((inp.params, inp.mask is not None))
        return EngineOutput(image=inp.image, engine="model", model=name)

    monkeypatch.setattr("workers.inference.inpaint.run_inpaint", run_inpaint)
    warmed = warm_up(tmp_path)
    assert [(w.name, w.error) for w in warmed] == [("sd-inpainting", None)]
    if ran:
        assert loads == [] and len(runs) == 1
        params, masked = runs[0]
        assert masked and params["steps"] * params["strength"] <= 2  # a short run: its kernels, not a job's time
    else:
        assert loads == ["sd-inpainting"] and runs == []


@pytest.mark.parametrize("device, side", [("cpu", 64), ("cuda", 512)])
def test_a_gpu_warms_on_a_picture_of_a_jobs_size_and_a_cpu_on_a_tiny_one(tmp_path, monkeypatch, device, side):
    """A GPU sets up kernels and FFT plans per input size: after a 64² warm-up an H200's first LaMa job took 0.12 s
    over a warm one, after 512² 0.03 s (bench/gpu_engines.py). On a CPU a tiny picture keeps the start short."""
    from workers.engines.base import EngineOutput

    (tmp_path / "lama").mkdir()
    (tmp_path / "lama" / "big-lama.pt").write_bytes(b"installed")  # the engine itself is replaced below
    seen = []

    def run_model_engine(operation, inp, models_dir):
        seen.append((operation, inp.image.size, inp.mask.size))
        return EngineOutput(image=inp.image, engine="model", model="lama")

    monkeypatch.setattr("workers.device.device_name", lambda: device)
    monkeypatch.setattr("workers.inference.run_model_engine", run_model_engine)
    assert [(w.name, w.error) for w in warm_up(tmp_path)] == [("lama", None)]
    assert seen == [("erase-object", (side, side), (side, side))]
